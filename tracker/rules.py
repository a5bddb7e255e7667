"""The engine that turns a document into classified event drafts with the rules of rule files
(read and checked by tracker.rulefile). Nothing from a rule file is ever evaluated as code:
keywords are literals, patterns are regular expressions run with a time limit, everything else is
checked against fixed vocabularies."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from tracker.amounts import find_money, parse_money
from tracker.names import clean_value
from tracker.patterns import Pattern
from tracker.shipped import shipped_dir
from tracker.textutil import find_date
from tracker.vocab import Matcher, Scan, Vocabulary, sentence_bounds

VOCAB_FILES = ("minerals.yaml", "countries.yaml")
REF_EXTRACTORS = ("mofcom-announcements", "executive-orders", "fr-documents", "fr-citations")
VALUE_EXTRACTORS = ("money",)  # what `amount: {extract: …}` may name


@dataclass(frozen=True)
class Cond:
    """all / any / none of some literals or patterns."""

    all: tuple[Any, ...] = ()
    any: tuple[Any, ...] = ()
    none: tuple[Any, ...] = ()


@dataclass(frozen=True)
class DateSpec:
    """Patterns with a (?P<date>…) group, or (?P<announced>…) for 'the date of issue'."""

    patterns: tuple[Pattern, ...] = ()
    default: str | None = None  # 'announced' or None
    where: str = "any"


@dataclass(frozen=True)
class FieldSpec:
    """How a rule finds a text field of its event (`amount`, `recipient`): patterns tried in
    order, the first that matches wins (its group named after the field); else, for an amount
    with `extract: money`, the first sum of money named. A bare "$" is `currency`."""

    patterns: tuple[Pattern, ...] = ()
    extract: str | None = None  # 'money'
    currency: str = "USD"
    where: str = "any"


@dataclass(frozen=True)
class RefSpec:
    """Where and how to find the document numbers a document acts on."""

    where: str = "title_then_text"
    extract: str | None = None
    pattern: Pattern | None = None


@dataclass(frozen=True)
class RuleTest:
    """An example document and the event it must (or must not) give."""

    line: int
    doc: dict[str, Any]
    expect: dict[str, Any] | None


@dataclass(frozen=True)
class Rule:
    """One classification rule, validated."""

    id: str
    title: str
    severity: str
    file: str
    line: int
    action: str
    jurisdiction: str
    sources: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    subtypes: tuple[str, ...] = ()
    doc_number: bool | None = None
    keywords: dict[str, Cond] = field(default_factory=dict)  # field -> literals
    regexes: dict[str, Cond] = field(default_factory=dict)  # field -> patterns
    minerals: str = "any"  # required | absent | any
    targets: tuple[str, ...] = ()
    targets_from: str | None = None
    minerals_from: str = "title_then_text"
    effective: DateSpec = DateSpec(default="announced")
    expires: DateSpec = DateSpec()
    refers_to: RefSpec | None = None
    amount: FieldSpec | None = None
    recipient: FieldSpec | None = None
    diff_list: bool = False
    tests: tuple[RuleTest, ...] = ()
    stop: bool = True


@dataclass
class DocView:
    """What the engine sees of a document."""

    title: str
    text: str = ""
    source: str = ""
    kind: str = ""
    language: str = ""
    published: date | None = None
    doc_number: str | None = None
    subtypes: tuple[str, ...] = ()
    id: int | None = None


@dataclass
class Draft:
    """An event as one rule made it from one document."""

    rule: str
    severity: str
    action: str
    jurisdiction: str
    announced: date | None
    effective: date | None
    expires: date | None
    minerals: list[str]
    items: list[str]
    targets: list[str]
    refers_to: list[str]
    trigger: str
    amount: str | None = None  # a sum of money as tracker.amounts writes it: 'USD 35 million'
    recipient: str | None = None  # whom the money goes to, as the text names them

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        d = dict(self.__dict__)
        for k in ("announced", "effective", "expires"):
            d[k] = d[k].isoformat() if d[k] else None
        return d


@dataclass(frozen=True)
class Check:
    """One condition of a rule checked against one document: which (`kinds`, `sources`,
    `languages`, `subtypes`, `doc_number`, `title any`, `text_regex none`, `minerals`, ...),
    whether it held, and the document's side of it: its kind, source, language, subtypes or
    number; the keyword ids the scan found in that region; for a pattern, the one that decided
    (with its match when it matched); for `minerals`, the scan's terms. Made by the engine's own
    check (`RuleSet.checks`), so an explanation cannot disagree with a classification."""

    condition: str
    ok: bool
    value: Any = None


# --- loading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Compiled:
    """A rule's keyword conditions as sets of keyword ids, for set arithmetic per document."""

    rule: Rule
    kinds: frozenset[str]
    sources: frozenset[str]
    subtypes: frozenset[str]  # lowercase
    # per region with keyword conditions (title, text, anywhere): its condition names and its
    # all / any / none sets of keyword ids
    keyword_conds: tuple[tuple[tuple[str, str, str], tuple[frozenset[int], ...]], ...]


class RuleSet:
    """Every rule file of a folder with the vocabulary, compiled into one matcher, plus an index
    from keyword to the rules that need it, so a document is checked only against the rules whose
    keywords it contains (and those without keywords)."""

    def __init__(self, rules: list[Rule], vocab: Vocabulary, folder: Path | None = None):
        self.rules = rules
        self.vocab = vocab
        self.folder = folder
        self.matcher = Matcher(vocab, all_keywords(rules))
        self._mineral_types = {"mineral", "group"}
        kid = self.matcher.keyword_id
        self._compiled: list[_Compiled] = []
        self._index: dict[int, set[int]] = {}
        self._always: set[int] = set()
        for i, r in enumerate(rules):
            sets = {}
            for fld in ("title", "text", "any"):
                c = r.keywords.get(fld, Cond())
                sets[fld] = (
                    frozenset(map(kid, c.all)),
                    frozenset(map(kid, c.any)),
                    frozenset(map(kid, c.none)),
                )
            self._compiled.append(
                _Compiled(
                    r,
                    frozenset(r.kinds),
                    frozenset(r.sources),
                    frozenset(s.lower() for s in r.subtypes),
                    tuple(
                        (names, sets[f])
                        for names, f in (
                            (_TITLE_CONDS, "title"),
                            (_TEXT_CONDS, "text"),
                            (_ANYWHERE_CONDS, "any"),
                        )
                        if any(sets[f])
                    ),
                )
            )
            # a rule is a candidate only if the document holds one of the keywords it needs
            needed = [sets[f][0] or sets[f][1] for f in sets if sets[f][0] or sets[f][1]]
            if r.diff_list:
                continue
            if not needed:
                self._always.add(i)
            else:
                for kw in min(needed, key=len):
                    self._index.setdefault(kw, set()).add(i)

    # --- the engine ----------------------------------------------------------------------------

    def classify(self, doc: DocView) -> list[Draft]:
        """Drafts from the first matching rule (and any earlier matching rule marked `continue`)."""
        scan = self.matcher.scan(doc.title, doc.text)
        return [self.emit(rule, doc, scan) for rule in self.matching(doc, scan)]

    def first_match(self, doc: DocView) -> Rule | None:
        """The rule that decides a document (no event built): what `classify` does first."""
        rules = self.matching(doc, self.matcher.scan(doc.title, doc.text))
        return rules[-1] if rules else None

    def matching(self, doc: DocView, scan: Scan) -> list[Rule]:
        """The rules that fire, in order: those marked `continue`, then the first one that stops."""
        candidates = set(self._always)
        for kw in scan.title_keywords:
            candidates |= self._index.get(kw, set())
        for kw in scan.text_keywords:
            candidates |= self._index.get(kw, set())
        fired = []
        for i in sorted(candidates):
            c = self._compiled[i]
            if self._matches(c, doc, scan):
                fired.append(c.rule)
                if c.rule.stop:
                    break
        return fired

    def matches(self, rule: Rule, doc: DocView, scan: Scan) -> bool:
        """True when every condition of `rule` holds for `doc`."""
        return self._matches(self._compiled_of(rule), doc, scan)

    def checks(self, rule: Rule, doc: DocView, scan: Scan) -> list[Check]:
        """Every condition of `rule` checked against `doc`, in the order the engine checks them
        (`classify` stops at the first that fails; this goes on, for `tracker rules explain`)."""
        return [Check(*c) for c in self._checks(self._compiled_of(rule), doc, scan)]

    def _compiled_of(self, rule: Rule) -> _Compiled:
        return next(x for x in self._compiled if x.rule is rule)

    def _matches(self, c: _Compiled, doc: DocView, scan: Scan) -> bool:
        for _, held, _ in self._checks(c, doc, scan):
            if not held:
                return False
        return True

    def _checks(self, c: _Compiled, doc: DocView, scan: Scan) -> Iterator[tuple[str, bool, Any]]:
        """The one place a rule's conditions are checked, as (condition, held, the document's side)
        (see Check): lazily, so a caller that stops at the first failure (`_matches`) pays for no
        condition after it. Plain tuples: this runs for every candidate rule of every document."""
        rule = c.rule
        if c.kinds:
            yield ("kinds", doc.kind in c.kinds, doc.kind)
        if c.sources:
            yield ("sources", doc.source in c.sources, doc.source)
        if rule.languages:
            yield ("languages", doc.language in rule.languages, doc.language)
        if c.subtypes:
            yield ("subtypes", any(s.lower() in c.subtypes for s in doc.subtypes), doc.subtypes)
        if rule.doc_number is not None:
            yield ("doc_number", bool(doc.doc_number) == rule.doc_number, doc.doc_number)
        for names, (all_, any_, none_) in c.keyword_conds:
            if names is _TITLE_CONDS:
                hits: AbstractSet[int] = scan.title_keywords
            elif names is _TEXT_CONDS:
                hits = scan.text_keywords.keys()
            else:
                hits = scan.title_keywords | scan.text_keywords.keys()
            if all_:
                yield (names[0], all_ <= hits, hits)
            if any_:
                yield (names[1], not any_.isdisjoint(hits), hits)
            if none_:
                yield (names[2], none_.isdisjoint(hits), hits)
        for where, cond in rule.regexes.items():
            hay = doc.title if where == "title" else doc.text
            names = _TITLE_REGEX_CONDS if where == "title" else _TEXT_REGEX_CONDS
            if cond.all:
                missing = next((p for p in cond.all if not p.search(hay)), None)
                yield (names[0], missing is None, missing)
            if cond.any:
                found = next(((p, m) for p in cond.any if (m := p.search(hay))), None)
                yield (names[1], found is not None, found)
            if cond.none:
                found = next(((p, m) for p in cond.none if (m := p.search(hay))), None)
                yield (names[2], found is None, found)
        if rule.minerals != "any":
            has = any(
                self.vocab.terms[t].type in self._mineral_types for t in scan.terms if t in self.vocab.terms
            )
            yield ("minerals", has == (rule.minerals == "required"), scan.terms)

    def emit(self, rule: Rule, doc: DocView, scan: Scan) -> Draft:
        """The event draft `rule` makes of `doc`."""
        minerals, items = self._minerals(rule, scan)
        refs = self._refs(rule, doc)
        targets = list(rule.targets)
        if rule.targets_from == "countries":
            for cid in scan.term_ids("title", {"country"}, self.vocab) or scan.term_ids(
                "any", {"country"}, self.vocab
            ):
                code = cid.split(":", 1)[1]
                if code != rule.jurisdiction and code not in targets:
                    targets.append(code)
        return Draft(
            rule=rule.id,
            severity=rule.severity,
            action=rule.action,
            jurisdiction=rule.jurisdiction,
            announced=doc.published,
            effective=self._date(rule.effective, doc),
            expires=self._date(rule.expires, doc),
            minerals=minerals,
            items=items,
            targets=targets,
            refers_to=refs,
            trigger=self._trigger(rule, doc, scan),
            amount=self.value_of(rule.amount, doc, "amount")[0],
            recipient=self.value_of(rule.recipient, doc, "recipient")[0],
        )

    def _minerals(self, rule: Rule, scan: Scan) -> tuple[list[str], list[str]]:
        v = self.vocab
        if rule.minerals_from == "none":
            return [], []
        title = scan.term_ids("title", self._mineral_types, v)
        text = scan.term_ids("text", self._mineral_types, v)
        items = scan.term_ids("title", {"item"}, v) or scan.term_ids("text", {"item"}, v)
        if rule.minerals_from == "text":
            return v.with_groups(list(dict.fromkeys(title + text))), items
        specific = [m for m in title if v.terms[m].type == "mineral"]
        if specific:
            return v.with_groups(specific), items
        if title:  # only groups in the title: refine them by the members the text names
            groups = set(title)
            members = [m for m in text if set(v.terms[m].groups) & groups]
            return v.with_groups(members + title), items
        if rule.minerals_from == "title_then_text":
            return v.with_groups(text), items
        return [], items

    def _date(self, spec: DateSpec, doc: DocView) -> date | None:
        return self.date_of(spec, doc)[0]

    def date_of(self, spec: DateSpec, doc: DocView) -> tuple[date | None, Pattern | None, Any]:
        """The date `spec` gives `doc`, with the pattern and the match it came from (both None
        when it is the default)."""
        hay = {"title": doc.title, "text": doc.text}.get(spec.where, doc.title + "\n" + doc.text)
        for pat in spec.patterns:
            m = pat.search(hay)
            if not m:
                continue
            groups = m.groupdict()
            if groups.get("announced"):
                return doc.published, pat, m
            if groups.get("date") and (d := find_date(groups["date"])):
                return d, pat, m
        return (doc.published if spec.default == "announced" else None), None, None

    def value_of(self, spec: FieldSpec | None, doc: DocView, name: str) -> tuple[str | None, Pattern | None]:
        """The value `spec` gives `doc` for the field `name` (an amount is written as
        tracker.amounts writes it, when it reads as one), with the pattern it came from (None for
        the built-in extractor, or no value)."""
        if spec is None:
            return None, None
        hay = {"title": doc.title, "text": doc.text}.get(spec.where, doc.title + "\n" + doc.text)
        for pat in spec.patterns:
            m = pat.search(hay)
            if not m or not m.group(name):
                continue
            captured = clean_value(m.group(name))
            if name == "amount":
                money = parse_money(captured, spec.currency)
                captured = str(money) if money is not None else captured
            if captured:
                return captured, pat
        if spec.extract == "money":
            money = find_money(hay, spec.currency)
            return (str(money) if money is not None else None), None
        return None, None

    def _refs(self, rule: Rule, doc: DocView) -> list[str]:
        spec = rule.refers_to
        if spec is None:
            return []
        regions = {
            "title": [doc.title],
            "text": [doc.text],
            "any": [doc.title + "\n" + doc.text],
            "title_then_text": [doc.title, doc.text],
        }[spec.where]
        for region in regions:
            refs = [r for r in extract_refs(region, spec) if r != doc.doc_number]
            if refs:
                return list(dict.fromkeys(refs))
        return []

    def _trigger(self, rule: Rule, doc: DocView, scan: Scan) -> str:
        """The sentence of the text where the rule's first keyword was found, else the sentence
        of its effective or expiry date, else the title."""
        for key in ("text", "any"):
            cond = rule.keywords.get(key)
            if cond is None:
                continue
            for k in (*cond.all, *cond.any):
                pos = scan.text_keywords.get(self.matcher.keyword_id(k))
                if pos is not None:
                    s, e = sentence_bounds(doc.text, pos)
                    return doc.text[s:e].strip()[:400]
        for pat in (*rule.effective.patterns, *rule.expires.patterns):
            m = pat.search(doc.text)
            if m:
                s, e = sentence_bounds(doc.text, m.start())
                return doc.text[s:e].strip()[:400]
        return doc.title[:400]


# condition names, as `tracker rules explain` shows them (all / any / none of a region)
_TITLE_CONDS = ("title all", "title any", "title none")
_TEXT_CONDS = ("text all", "text any", "text none")
_ANYWHERE_CONDS = ("anywhere all", "anywhere any", "anywhere none")
_TITLE_REGEX_CONDS = ("title_regex all", "title_regex any", "title_regex none")
_TEXT_REGEX_CONDS = ("text_regex all", "text_regex any", "text_regex none")

_MOFCOM_REF = re.compile(
    r"(?P<type>公告|令)\s*[〔\[(（]?(?P<y>\d{4})[〕\])）]?\s*年?\s*第\s*(?P<n>\d{1,6})\s*号"
    r"(?P<more>(?:\s*[、，,及和与]\s*(?:第\s*)?\d{1,6}\s*号)*)"
)
_EO_REF = re.compile(r"Executive\s+Order\s+(?:No\.?\s*)?(\d{5})", re.I)
_FR_REF = re.compile(r"(?:FR\s+Doc\.?|Document\s+Number:?)\s*(\d{4}-\d{4,6})", re.I)
_FR_CITATION = re.compile(r"(?<![\d-])(\d{1,3})\s+FR\s+(\d{1,6})(?![\d-])")


def extract_refs(text: str, spec: RefSpec) -> list[str]:
    """Document numbers named in `text` ('2025年第55号、56号' gives MOFCOM 2025-55 and 2025-56;
    '90 FR 47201' a citation), and what a pattern's (?P<ref>…) captured (a number, or the quoted
    title of the rule acted on), cleaned (tracker.names.clean_value)."""
    out: list[str] = []
    if spec.extract == "mofcom-announcements":
        for m in _MOFCOM_REF.finditer(text):
            prefix = "MOFCOM Order" if m.group("type") == "令" else "MOFCOM"
            nums = [m.group("n"), *re.findall(r"(\d{1,6})\s*号", m.group("more"))]
            out += [f"{prefix} {m.group('y')}-{int(n)}" for n in nums]
    elif spec.extract == "executive-orders":
        out += [f"EO {n}" for n in _EO_REF.findall(text)]
    elif spec.extract == "fr-documents":
        out += [f"FR {n}" for n in _FR_REF.findall(text)]
    elif spec.extract == "fr-citations":
        out += [f"{v} FR {p}" for v, p in _FR_CITATION.findall(text)]
    if spec.pattern is not None:
        out += [ref for m in spec.pattern.finditer(text) if (ref := clean_value(m.group("ref") or ""))]
    return out


def default_rules_dir() -> Path:
    """The rules shipped with the tracker, used when neither --rules nor `[rules] dir` names a
    folder (never `./rules` by chance: which rules run is always what the config says)."""
    return shipped_dir("rules")


def all_keywords(rules: Iterable[Rule]) -> list[str]:
    """Every literal keyword the rules use (for benchmarks and diagnostics)."""
    out = []
    for r in rules:
        for c in r.keywords.values():
            out += [*c.all, *c.any, *c.none]
    return out
