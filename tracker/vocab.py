"""The mineral vocabulary (`rules/minerals.yaml`) and the one matcher that finds minerals, item
classes, countries and rule keywords in a document in a single pass (Aho-Corasick)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ahocorasick

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
    for section, type_ in (("minerals", "mineral"), ("groups", "group"), ("items", "item")):
        table = data.get(section) or LDict()
        if not isinstance(table, dict):
            raise RuleFileError(path, data.line_of(section), f"'{section}' must be a mapping of id: entry")
        for tid, entry in table.items():
            _add_term(vocab, path, table, tid, entry, type_, members, group_lines)
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
) -> None:
    line = table.line_of(tid) if isinstance(table, LDict) else 0
    if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", tid):
        raise RuleFileError(path, line, f"id {tid!r}: use lowercase words joined by hyphens")
    if tid in vocab.terms:
        raise RuleFileError(path, line, f"id {tid!r} is defined twice")
    if not isinstance(entry, LDict):
        raise RuleFileError(path, line, f"{tid}: expected a mapping (name, en, zh, ja, ...)")
    for key in entry:
        if key not in _ENTRY_KEYS:
            close = difflib.get_close_matches(key, sorted(_ENTRY_KEYS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RuleFileError(path, entry.line_of(key), f"{tid}: unknown key {key!r}{hint}")
    if not isinstance(entry.get("name"), str):
        raise RuleFileError(path, entry.line, f"{tid}: 'name' is required")
    aliases: list[str] = [tid.replace("-", " ")]
    alias_lines = {aliases[0]: line}  # lowercasing drops the line an LStr knows: keep it here
    for lang in LANGS:
        values = entry.get(lang) or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise RuleFileError(path, entry.line_of(lang), f"{tid}: '{lang}' must be a list of names")
        for v in values:
            if v.strip():
                aliases.append(v.strip().lower())
                alias_lines.setdefault(aliases[-1], line_of(v, entry.line_of(lang)))
    for alias in aliases:
        other = vocab.aliases.get(alias)
        if other is not None and other != tid:
            raise RuleFileError(
                path, alias_lines.get(alias, entry.line), f"{tid}: alias {alias!r} already names {other!r}"
            )
        vocab.aliases[alias] = tid
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
                close = difflib.get_close_matches(key, sorted(_COUNTRY_KEYS), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
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


@dataclass
class Hit:
    """Where a term or keyword was found: in the title or the text, at which offset."""

    in_title: bool
    start: int
    end: int


@dataclass
class Scan:
    """What one pass over a document found."""

    title_len: int
    terms: dict[str, list[Hit]] = field(default_factory=dict)  # term id -> hits
    keywords: dict[int, list[Hit]] = field(default_factory=dict)  # keyword id -> hits

    def term_ids(self, where: str, types: set[str], vocab: Vocabulary) -> list[str]:
        """Term ids of `types` found in 'title', 'text' or 'any', in order of first appearance."""
        found = []
        for tid, hits in self.terms.items():
            term = vocab.terms.get(tid)
            if term is None or term.type not in types:
                continue
            sel = [h for h in hits if where == "any" or h.in_title == (where == "title")]
            if sel:
                found.append((sel[0].start, tid))
        return [tid for _, tid in sorted(found)]

    def keyword_in(self, kid: int, where: str) -> Hit | None:
        """First hit of a keyword in 'title', 'text' or 'any'."""
        for h in self.keywords.get(kid, []):
            if where == "any" or h.in_title == (where == "title"):
                return h
        return None


class Matcher:
    """Vocabulary aliases and rule keywords compiled into one Aho-Corasick automaton, so the cost
    of a scan barely depends on how many rules there are."""

    def __init__(self, vocab: Vocabulary, keywords: Iterable[str] = ()):
        self.vocab = vocab
        self.keyword_ids: dict[str, int] = {}
        auto = ahocorasick.Automaton()
        entries: dict[str, list[tuple[str, Any]]] = {}
        for term in vocab.terms.values():
            key = f"country:{term.id}" if term.type == "country" else term.id
            for alias in term.aliases:
                entries.setdefault(alias, []).append(("term", key))
        for word, tid in vocab.exclusions.items():
            entries.setdefault(word, []).append(("not", tid))
        for kw in keywords:
            low = kw.lower()
            if low not in self.keyword_ids:
                self.keyword_ids[low] = len(self.keyword_ids)
                entries.setdefault(low, []).append(("kw", self.keyword_ids[low]))
        for word, values in entries.items():
            auto.add_word(word, (word, tuple(values), bool(_ASCII_WORD.match(word[:1] or " "))))
        self._empty = not entries
        if not self._empty:
            auto.make_automaton()
        self.auto = auto
        symbols = sorted({t.symbol for t in vocab.terms.values() if t.symbol}, key=len, reverse=True)
        self._symbol_of = {t.symbol: t.id for t in vocab.terms.values() if t.symbol}
        alt = "|".join(symbols) or "(?!)"
        # a symbol counts only where it must be one: '(Ga)', or a formula such as 'Ga2O3', 'GaN'
        self._symbols = re.compile(
            rf"\((?P<p>{alt})\)|(?<![A-Za-z])(?P<f>{alt})(?=\d|(?:{alt})(?:\d|\b|(?:{alt})))"
        )

    def keyword_id(self, keyword: str) -> int:
        """The id a rule keyword was compiled under."""
        return self.keyword_ids[keyword.lower()]

    def scan(self, title: str, text: str) -> Scan:
        """Find every alias, symbol and keyword in title and text, in one pass."""
        joined = title + "\n\n" + text
        low = joined.lower()
        tl = len(title)
        result = Scan(title_len=tl)
        hidden: list[tuple[int, int, str]] = []
        raw: list[tuple[int, int, str, Any]] = []
        if not self._empty:
            for end, (word, values, ascii_word) in self.auto.iter(low):
                start = end - len(word) + 1
                if ascii_word and (
                    (start > 0 and low[start - 1].isalnum() and low[start - 1].isascii())
                    or (end + 1 < len(low) and low[end + 1].isalnum() and low[end + 1].isascii())
                ):
                    continue
                for kind, value in values:
                    if kind == "not":
                        hidden.append((start, end + 1, value))
                    else:
                        raw.append((start, end + 1, kind, value))
        for start, end, kind, value in raw:
            if kind == "term" and any(hs <= start and end <= he and t == value for hs, he, t in hidden):
                continue
            hit = Hit(in_title=start < tl, start=start, end=end)
            if kind == "term":
                result.terms.setdefault(value, []).append(hit)
            else:
                result.keywords.setdefault(value, []).append(hit)
        for m in self._symbols.finditer(joined):
            sym = m.group("p") or m.group("f")
            start = m.start("p") if m.group("p") else m.start("f")
            result.terms.setdefault(self._symbol_of[sym], []).append(Hit(start < tl, start, start + len(sym)))
        self._drop_lonely_ambiguous(result, low)
        return result

    def _drop_lonely_ambiguous(self, result: Scan, low: str) -> None:
        """An ambiguous alias ('lead') counts only in a sentence that names another mineral."""
        if not self.vocab.ambiguous:
            return
        for tid in list(result.terms):
            term = self.vocab.terms.get(tid)
            if term is None or not any(a in self.vocab.ambiguous for a in term.aliases):
                continue
            kept = []
            for h in result.terms[tid]:
                word = low[h.start : h.end]
                if word not in self.vocab.ambiguous:
                    kept.append(h)
                    continue
                s, e = sentence_bounds(low, h.start)
                if any(
                    other != tid
                    and self.vocab.terms.get(other, Term("", "", "")).type in ("mineral", "group")
                    and any(
                        s <= oh.start < e and low[oh.start : oh.end] not in self.vocab.ambiguous
                        for oh in ohits
                    )
                    for other, ohits in result.terms.items()
                ):
                    kept.append(h)
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
