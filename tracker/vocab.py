"""The mineral vocabulary (`rules/minerals.yaml`) and the one matcher that finds minerals, item
classes, countries and rule keywords in a document in a single pass (Aho-Corasick)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ahocorasick_rs

from tracker.wording import did_you_mean
from tracker.yamlfile import LDict, RuleFileError, line_of, load_yaml

LANGS = ("en", "zh", "ja")
_ASCII_WORD = re.compile(r"[a-z0-9]")


@dataclass(frozen=True)
class Term:
    """A mineral, a group of minerals, or a non-mineral item class."""

    id: str
    name: str
    type: str  # 'mineral' | 'group' | 'item' | 'country'
    symbol: str | None = None
    groups: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()


@dataclass
class Vocabulary:
    """Minerals, groups, item classes and countries, with their aliases."""

    terms: dict[str, Term] = field(default_factory=dict)
    # alias (lowercase) -> term id, and aliases that count only beside another mineral
    aliases: dict[str, str] = field(default_factory=dict)
    ambiguous: set[str] = field(default_factory=set)
    exclusions: dict[str, str] = field(default_factory=dict)  # longer word -> term it hides
    iso_codes: frozenset[str] = frozenset()

    def of_type(self, *types: str) -> list[Term]:
        """Terms of the given types, in file order."""
        return [t for t in self.terms.values() if t.type in types]

    def resolve(self, name: str) -> str | None:
        """The canonical id for any id, alias or chemical symbol ('镓', 'Ga', 'gallium')."""
        if name in self.terms:
            return name
        low = name.strip().lower()
        if low in self.terms:
            return low
        if low in self.aliases:
            return self.aliases[low]
        for t in self.terms.values():
            if t.symbol and t.symbol == name.strip():
                return t.id
        return None

    def suggest(self, name: str, n: int = 3) -> list[str]:
        """The closest known names, for 'did you mean'."""
        pool = [t for t, term in self.terms.items() if term.type != "country"] + list(self.aliases)
        close = difflib.get_close_matches(name.lower(), pool, n=n * 3, cutoff=0.6)
        ids = [self.aliases.get(c, c) for c in close]
        return [i for i in dict.fromkeys(ids) if i in self.terms][:n]

    def names(self, ids: Iterable[str]) -> list[str]:
        """Display names ('Holmium', 'Rare earth elements') for ids; an unknown id as it is."""
        return [self.terms[i].name if i in self.terms else i for i in ids]

    def expand(self, ids: Iterable[str]) -> set[str]:
        """Ids plus, for groups, their members."""
        out: set[str] = set()
        for i in ids:
            out.add(i)
            t = self.terms.get(i)
            if t is not None:
                out.update(t.members)
        return out

    def with_groups(self, ids: Iterable[str]) -> list[str]:
        """Ids plus the groups their members imply (a rare-earth element implies 'rare-earths'),
        in a stable order: minerals first as given, then groups."""
        ids = list(dict.fromkeys(ids))
        groups = [g for i in ids for g in self.terms[i].groups if i in self.terms and g not in ids]
        return ids + list(dict.fromkeys(groups))

    def canonical_items(self, raw_items: Iterable[str]) -> list[str]:
        """Map the entries of a published list ('Aluminum (bauxite)', 'the rare earth elements
        group') to canonical ids; an unknown entry becomes a slug of itself."""
        out = []
        for raw in raw_items:
            name = raw.strip().lower()
            rid = self.resolve(name) or self.resolve(re.sub(r"\s*\(.*?\)\s*", " ", name).strip())
            if rid is None:
                rid = self.resolve(re.sub(r"^(the|and)\s+", "", name))
            out.append(rid or re.sub(r"[^a-z0-9]+", "-", name).strip("-"))
        return list(dict.fromkeys(out))


def load_vocabulary(rules_dir: str | Path) -> Vocabulary:
    """Read `minerals.yaml` (and `countries.yaml` when present) from `rules_dir`."""
    rules_dir = Path(rules_dir)
    vocab = Vocabulary()
    path = rules_dir / "minerals.yaml"
    if not path.is_file():
        raise RuleFileError(path, None, "the mineral vocabulary is missing")
    data = load_yaml(path)
    if not isinstance(data, LDict):
        raise RuleFileError(path, 1, "expected a mapping with 'minerals', 'groups' and 'items'")
    for key in data:
        if key not in ("minerals", "groups", "items"):
            raise RuleFileError(
                path, data.line_of(key), f"unknown key {key!r} (expected minerals, groups, items)"
            )
    members: dict[str, list[str]] = {}
    group_lines: dict[str, int] = {}  # group name -> line of its first mention in 'groups'
    alias_lines: dict[str, int] = {}  # alias -> the line that first gave it
    for section, type_ in (("minerals", "mineral"), ("groups", "group"), ("items", "item")):
        table = data.get(section) or LDict()
        if not isinstance(table, dict):
            raise RuleFileError(path, data.line_of(section), f"'{section}' must be a mapping of id: entry")
        for tid, entry in table.items():
            _add_term(vocab, path, table, tid, entry, type_, members, group_lines, alias_lines)
    for tid, term_members in members.items():
        group = vocab.terms.get(tid)
        if group is None or group.type != "group":
            raise RuleFileError(
                path,
                group_lines.get(tid),
                f"unknown group {tid!r} named in 'groups' of {', '.join(term_members)}",
            )
        vocab.terms[tid] = Term(**{**group.__dict__, "members": tuple(term_members)})
    countries = rules_dir / "countries.yaml"
    if countries.is_file():
        _load_countries(vocab, countries)
    return vocab


_ENTRY_KEYS = {"name", "symbol", "groups", "en", "zh", "ja", "ambiguous", "not"}


def _add_term(
    vocab: Vocabulary,
    path: Path,
    table: Any,
    tid: str,
    entry: Any,
    type_: str,
    members: dict[str, list[str]],
    group_lines: dict[str, int],
    first_lines: dict[str, int],
) -> None:
    """Entry `tid` of a vocabulary table into `vocab` (its names, groups and symbol checked), its
    groups' members and lines noted for the check of the groups that follows."""
    line = table.line_of(tid) if isinstance(table, LDict) else 0
    if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", tid):
        raise RuleFileError(path, line, f"id {tid!r}: use lowercase words joined by hyphens")
    if tid in vocab.terms:
        raise RuleFileError(path, line, f"id {tid!r} is defined twice")
    if not isinstance(entry, LDict):
        raise RuleFileError(path, line, f"{tid}: expected a mapping (name, en, zh, ja, ...)")
    for key in entry:
        if key not in _ENTRY_KEYS:
            hint = did_you_mean(key, _ENTRY_KEYS)
            raise RuleFileError(path, entry.line_of(key), f"{tid}: unknown key {key!r}{hint}")
    if not isinstance(entry.get("name"), str):
        raise RuleFileError(path, entry.line, f"{tid}: 'name' is required")
    aliases, alias_lines = _entry_aliases(path, tid, entry, line)
    for alias in aliases:
        other = vocab.aliases.get(alias)
        if other is not None and other != tid:
            raise RuleFileError(
                path,
                alias_lines.get(alias, entry.line),
                f"{tid}: alias {alias!r} already names {other!r} (first at {path}:{first_lines[alias]})",
            )
        vocab.aliases[alias] = tid
        first_lines.setdefault(alias, alias_lines.get(alias, line))
    for amb in entry.get("ambiguous") or []:
        vocab.ambiguous.add(str(amb).lower())
    for word in entry.get("not") or []:
        vocab.exclusions[str(word).lower()] = tid
    symbol = entry.get("symbol")
    if symbol is not None and not re.fullmatch(r"[A-Z][a-z]?", str(symbol)):
        raise RuleFileError(path, entry.line_of("symbol"), f"{tid}: {symbol!r} is not a chemical symbol")
    groups = tuple(entry.get("groups") or ())
    if not isinstance(entry.get("groups") or [], list) or not all(isinstance(g, str) for g in groups):
        raise RuleFileError(path, entry.line_of("groups"), f"{tid}: 'groups' must be a list of group ids")
    for g in groups:
        members.setdefault(str(g), []).append(tid)
        group_lines.setdefault(str(g), line_of(g, entry.line_of("groups")))
    vocab.terms[tid] = Term(
        id=tid,
        name=str(entry["name"]),
        type=type_,
        symbol=str(symbol) if symbol else None,
        groups=groups,
        aliases=tuple(dict.fromkeys(aliases)),
    )


def _entry_aliases(path: Path, tid: str, entry: LDict, line: int) -> tuple[list[str], dict[str, int]]:
    """The names of an entry, lowercased: its id in words, then those of each language; and the
    line each was first written on."""
    aliases: list[str] = [tid.replace("-", " ")]
    alias_lines = {aliases[0]: line}  # lowercasing drops the line an LStr knows: keep it here
    for lang in LANGS:
        values = entry.get(lang) or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise RuleFileError(path, entry.line_of(lang), f"{tid}: '{lang}' must be a list of names")
        in_lang: dict[str, int] = {}
        for v in values:
            if v.strip():
                alias, where = v.strip().lower(), line_of(v, entry.line_of(lang))
                if alias in in_lang:  # the same name in zh and ja of one entry is fine (白金, 錫)
                    raise RuleFileError(
                        path,
                        where,
                        f"{tid}: alias {alias!r} is listed twice in '{lang}' (first at {path}:{in_lang[alias]})",
                    )
                in_lang[alias] = where
                aliases.append(alias)
                alias_lines.setdefault(alias, where)
    return aliases, alias_lines


_COUNTRY_KEYS = {"name", "en", "zh", "ja"}


def _load_countries(vocab: Vocabulary, path: Path) -> None:
    data = load_yaml(path)
    if not isinstance(data, LDict):
        raise RuleFileError(path, 1, "expected a mapping with 'countries' and 'iso_codes'")
    for key in data:
        if key not in ("countries", "iso_codes"):
            raise RuleFileError(
                path, data.line_of(key), f"unknown key {key!r} (expected countries, iso_codes)"
            )
    codes = data.get("iso_codes") or []
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        raise RuleFileError(path, data.line_of("iso_codes"), "'iso_codes' must be a list of codes")
    vocab.iso_codes = frozenset(str(c) for c in codes) | {"EU"}
    table = data.get("countries") or LDict()
    if not isinstance(table, LDict):
        raise RuleFileError(path, data.line_of("countries"), "'countries' must be a mapping of code: entry")
    for code, entry in table.items():
        if not isinstance(entry, LDict):
            raise RuleFileError(path, table.line_of(code), f"{code}: expected a mapping (name, en, zh, ja)")
        for key in entry:
            if key not in _COUNTRY_KEYS:
                hint = did_you_mean(key, _COUNTRY_KEYS)
                raise RuleFileError(path, entry.line_of(key), f"{code}: unknown key {key!r}{hint}")
        for lang in LANGS:
            values = entry.get(lang) or []
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise RuleFileError(path, entry.line_of(lang), f"{code}: '{lang}' must be a list of names")
        aliases = [str(a).strip().lower() for lang in LANGS for a in (entry.get(lang) or [])]
        vocab.terms[f"country:{code}"] = Term(
            id=str(code), name=str(entry.get("name", code)), type="country", aliases=tuple(aliases)
        )


# --- the matcher -------------------------------------------------------------------------------


def lower_same_length(text: str) -> str:
    """Lowercase `text` keeping every offset (a few letters, such as 'İ', lowercase to two)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


@dataclass
class Scan:
    """What one pass over a document found: terms (minerals, groups, item classes, countries) with
    their (in_title, start, end) hits, and rule keywords by region. Offsets are in `title + "\n\n"
    + text`."""

    title_len: int
    terms: dict[str, list[tuple[bool, int, int]]] = field(default_factory=dict)
    title_keywords: set[int] = field(default_factory=set)
    text_keywords: dict[int, int] = field(default_factory=dict)  # keyword id -> first offset in text

    def term_ids(self, where: str, types: set[str], vocab: Vocabulary) -> list[str]:
        """Term ids of `types` found in 'title', 'text' or 'any', in order of first appearance."""
        found = []
        for tid, hits in self.terms.items():
            term = vocab.terms.get(tid)
            if term is None or term.type not in types:
                continue
            for in_title, start, _ in hits:
                if where == "any" or in_title == (where == "title"):
                    found.append((start, tid))
                    break
        return [tid for _, tid in sorted(found)]


_FORMULA_MARK = re.compile(r"[a-z0-9]")
_TOKEN = re.compile(r"[A-Za-z0-9]+")


def _token_at(text: str, start: int) -> str:
    """The run of letters and digits that begins at `start`."""
    m = _TOKEN.match(text, start)
    return m.group(0) if m else ""


class Matcher:
    """Every vocabulary alias and every rule keyword compiled into one Aho-Corasick automaton
    (ahocorasick-rs), so a document is read once whatever the number of rules."""

    def __init__(self, vocab: Vocabulary, keywords: Iterable[str] = ()):
        self.vocab = vocab
        self.keyword_ids: dict[str, int] = {}
        info: dict[str, tuple[list[str], list[int], list[str]]] = {}  # word -> (terms, keywords, hides)
        for key, term in vocab.terms.items():
            for alias in term.aliases:
                info.setdefault(alias, ([], [], []))[0].append(key)
        for word, tid in vocab.exclusions.items():
            info.setdefault(word, ([], [], []))[2].append(tid)
        for kw in keywords:
            low = kw.lower()
            if low and low not in self.keyword_ids:
                self.keyword_ids[low] = len(self.keyword_ids)
                info.setdefault(low, ([], [], []))[1].append(self.keyword_ids[low])
        words = [w for w in info if w]
        self._info = [
            (bool(_ASCII_WORD.match(w[0])), tuple(info[w][0]), tuple(info[w][1]), tuple(info[w][2]))
            for w in words
        ]
        # a match is read by its index alone: the automaton need not keep its own copy of the words
        self._ac = ahocorasick_rs.AhoCorasick(words, store_patterns=False) if words else None
        # the terms an ambiguous alias names: a scan that finds none of them has nothing to drop
        self._ambiguous = {k for k, t in vocab.terms.items() if any(a in vocab.ambiguous for a in t.aliases)}
        symbols = sorted({t.symbol for t in vocab.terms.values() if t.symbol}, key=len, reverse=True)
        self._symbol_of = {t.symbol: t.id for t in vocab.terms.values() if t.symbol}
        alt = "|".join(symbols) or "(?!)"
        # a one-letter symbol in parentheses is as often a list marker ('(B)', '(V)' in legal text)
        paren = "|".join(s for s in symbols if len(s) > 1) or "(?!)"
        # a symbol counts only where it must be one: '(Ga)', or a formula such as 'Ga2O3', 'GaAs', 'B4C'
        self._symbols = re.compile(
            rf"(?=[(A-Z])(?:\((?P<p>{paren})\)|(?<![A-Za-z])(?P<f>{alt})(?=\d|(?:{alt})(?:\d|\b|(?:{alt}))))"
        )

    def keyword_id(self, keyword: str) -> int:
        """The id a rule keyword was compiled under."""
        return self.keyword_ids[keyword.lower()]

    def scan(self, title: str, text: str) -> Scan:
        """Find every alias, symbol and keyword in title and text, in one pass over each."""
        tl = len(title)
        result = Scan(title_len=tl)
        offset = tl + 2
        hidden: list[tuple[int, int, str]] = []
        term_hits: list[tuple[bool, int, int, str]] = []
        for in_title, part, base in ((True, title, 0), (False, text, offset)):
            if not part or self._ac is None:
                continue
            low = lower_same_length(part)
            n = len(low)
            for idx, start, end in self._ac.find_matches_as_indexes(low, overlapping=True):
                ascii_word, terms, kws, hides = self._info[idx]
                if ascii_word and (
                    (start > 0 and low[start - 1].isascii() and low[start - 1].isalnum())
                    or (end < n and low[end].isascii() and low[end].isalnum())
                ):
                    continue
                for kid in kws:
                    if in_title:
                        result.title_keywords.add(kid)
                    elif kid not in result.text_keywords:
                        result.text_keywords[kid] = start
                for tid in terms:
                    term_hits.append((in_title, base + start, base + end, tid))
                for tid in hides:
                    hidden.append((base + start, base + end, tid))
        for in_title, start, end, tid in term_hits:
            if hidden and any(hs <= start and end <= he and t == tid for hs, he, t in hidden):
                continue
            result.terms.setdefault(tid, []).append((in_title, start, end))
        for part, base, in_title in ((title, 0, True), (text, offset, False)):
            for m in self._symbols.finditer(part):
                sym = m.group("p") or m.group("f")
                if not m.group("p") and not _FORMULA_MARK.search(_token_at(part, m.start("f"))):
                    continue  # 'BY', 'UV' in capitals are words, not formulas: a formula has 'Ga' or '2'
                start = base + (m.start("p") if m.group("p") else m.start("f"))
                result.terms.setdefault(self._symbol_of[sym], []).append((in_title, start, start + len(sym)))
        if not self._ambiguous.isdisjoint(result.terms):
            self._drop_lonely_ambiguous(result, title + "\n\n" + text)
        return result

    def _drop_lonely_ambiguous(self, result: Scan, joined: str) -> None:
        """An ambiguous alias ('lead') counts only in a sentence that names another mineral."""
        amb = self.vocab.ambiguous
        low = lower_same_length(joined)
        for tid in list(result.terms):
            if tid not in self._ambiguous:
                continue
            kept = []
            for hit in result.terms[tid]:
                if low[hit[1] : hit[2]] not in amb:
                    kept.append(hit)
                    continue
                s, e = sentence_bounds(low, hit[1])
                for other, ohits in result.terms.items():
                    oterm = self.vocab.terms.get(other)
                    if other == tid or oterm is None or oterm.type not in ("mineral", "group"):
                        continue
                    if any(s <= os_ < e and low[os_:oe] not in amb for _, os_, oe in ohits):
                        kept.append(hit)
                        break
            if kept:
                result.terms[tid] = kept
            else:
                del result.terms[tid]


_SENTENCE_END = re.compile(r"[。！？；\n]|[.!?;](?=\s|$)")


def sentence_bounds(text: str, pos: int) -> tuple[int, int]:
    """Start and end of the sentence around `pos`."""
    start = 0
    for m in _SENTENCE_END.finditer(text, 0, pos):
        start = m.end()
    end = _SENTENCE_END.search(text, pos)
    return start, (end.end() if end else len(text))
