"""Why a document did or did not become an event: every rule, condition by condition.

`explain(ruleset, view)` checks every rule against one document with the engine's own checks
(`RuleSet.checks`), so its verdict is the one `RuleSet.classify` reaches. Unlike the engine it
goes on past a rule's first failing condition and past the rule that decided, to show everything
that held and everything that did not. `lines()` and `as_dict()` give the table and the JSON of
`tracker rules explain`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from tracker.errors import InputError
from tracker.events import document_view, stored_view
from tracker.fetch import parse_file
from tracker.rules import Check, DateSpec, DocView, Draft, Rule, RuleSet
from tracker.settings import Config
from tracker.store import Store
from tracker.vocab import Scan

MINERAL_TYPES = {"mineral", "group"}  # what `minerals: required` counts (item classes do not)
SHOWN = 6  # a condition's values shown in the table before "+N more"


@dataclass(frozen=True)
class Condition:
    """One condition of a rule as a reader sees it: `title any [suspension, pause]: ✗ none found`."""

    name: str  # 'kinds', 'title any', 'text_regex none', 'minerals', ...
    wanted: tuple[str, ...]  # what the rule asks for
    ok: bool
    detail: str  # the document's side that decided

    @property
    def label(self) -> str:
        """The condition with what it asks for, as written in the table."""
        if self.name in ("minerals", "doc_number"):
            return f"{self.name} {self.wanted[0]}"
        shown = ", ".join(self.wanted[:SHOWN])
        more = f", +{len(self.wanted) - SHOWN} more" if len(self.wanted) > SHOWN else ""
        return f"{self.name} [{shown}{more}]"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"condition": self.name, "wanted": list(self.wanted), "ok": self.ok, "detail": self.detail}


@dataclass
class Verdict:
    """What one rule made of the document."""

    rule: Rule
    conditions: list[Condition]
    matched: bool  # every condition held
    fired: bool  # it made one of the document's events
    reached: bool  # classification got to it: no earlier rule had decided
    note: str = ""

    @property
    def status(self) -> str:
        """MATCH, no, or why a rule that matched made no event."""
        if self.rule.diff_list:
            return "list rule"
        if self.fired:
            return "MATCH"
        if self.matched:
            return "match, not reached"
        return "no"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "rule": self.rule.id,
            "file": self.rule.file,
            "line": self.rule.line,
            "matched": self.matched,
            "fired": self.fired,
            "reached": self.reached,
            "status": self.status,
            "note": self.note,
            "conditions": [c.as_dict() for c in self.conditions],
        }


@dataclass
class EventFound:
    """An event a rule made of the document, with how its dates and references were found."""

    draft: Draft
    effective: str  # how: the pattern and what it matched, or the default
    expires: str
    refers_to: str
    minerals: str = ""  # a word on minerals taken from elsewhere

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the draft's fields, and `how` for the dates and references."""
        how = {"effective": self.effective, "expires": self.expires, "refers_to": self.refers_to}
        if self.minerals:
            how["minerals"] = self.minerals
        return {**self.draft.as_dict(), "how": how}


@dataclass
class Explanation:
    """Every rule's verdict on one document, and the events the document makes."""

    doc: DocView
    named: list[str]  # minerals and groups the document names, in order of appearance
    items: list[str]  # controlled item classes it names
    verdicts: list[Verdict] = field(default_factory=list)
    events: list[EventFound] = field(default_factory=list)

    @property
    def decided_by(self) -> str | None:
        """The rule whose match ended classification (the last that fired), if any."""
        fired = [v.rule.id for v in self.verdicts if v.fired]
        return fired[-1] if fired else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        d = self.doc
        return {
            "document": {
                "id": d.id,
                "title": d.title,
                "source": d.source,
                "kind": d.kind,
                "language": d.language,
                "published": d.published.isoformat() if d.published else None,
                "doc_number": d.doc_number,
                "subtypes": list(d.subtypes),
                "minerals_named": self.named,
                "items_named": self.items,
            },
            "decided_by": self.decided_by,
            "rules": [v.as_dict() for v in self.verdicts],
            "events": [e.as_dict() for e in self.events],
        }

    def lines(self) -> list[str]:
        """The explanation as text: the document, a table of rules and conditions, the events."""
        d = self.doc
        head = [f"document {d.id}" if d.id is not None else "document (not stored)"]
        head += [f"source {d.source or '-'} (kind {d.kind or '-'})", f"language {d.language or '-'}"]
        head += [f"issued {d.published or '-'}", f"number {d.doc_number or '-'}"]
        out = [", ".join(head), f"  title: {d.title}"]
        if d.subtypes:
            out.append(f"  subtypes: {', '.join(d.subtypes)}")
        out.append(f"  names: {', '.join(self.named + self.items) or 'no mineral or item class'}")
        out.append("")
        width = max((len(v.rule.id) for v in self.verdicts), default=4)
        where = max((len(_where(v.rule)) for v in self.verdicts), default=5)
        out.append(f"{'rule':<{width}}  {'where':<{where}}  verdict")
        for v in self.verdicts:
            out.append(f"{v.rule.id:<{width}}  {_where(v.rule):<{where}}  {v.status}")
            for c in v.conditions:
                out.append(f"    {c.label}: {'✓' if c.ok else '✗'} {c.detail}")
            if v.note:
                out.append(f"    ({v.note})")
        out.append("")
        if not self.events:
            out.append("no event: no rule matched")
        for e in self.events:
            out += _event_lines(e)
        return out


def explain(ruleset: RuleSet, doc: DocView) -> Explanation:
    """Every rule of `ruleset` checked against `doc`, in order, with the verdict `classify` reaches
    (the rules that fire: any matching `continue` rules, then the first matching rule)."""
    scan = ruleset.matcher.scan(doc.title, doc.text)
    out = Explanation(
        doc,
        named=scan.term_ids("any", MINERAL_TYPES, ruleset.vocab),
        items=scan.term_ids("any", {"item"}, ruleset.vocab),
    )
    decided: Rule | None = None
    fired: list[Rule] = []
    for rule in ruleset.rules:
        reached = decided is None
        if rule.diff_list:  # never run on a document's text: it compares a list with the one before
            note = "compares each version of a list with the one before; not run on a document's text"
            out.verdicts.append(Verdict(rule, [], False, False, reached, note))
            continue
        checks = ruleset.checks(rule, doc, scan)
        matched = all(c.ok for c in checks)
        fires = matched and reached
        note = ""
        if fires:
            fired.append(rule)
            if rule.stop:
                decided = rule
            else:
                note = "continue: true: later rules are tried too"
        elif matched and decided is not None:
            note = f"every condition holds, but {decided.id} matched first and decided"
        if not checks:
            note = "no conditions: it matches every document" + (f"; {note}" if note else "")
        conditions = [describe(ruleset, rule, c, scan) for c in checks]
        out.verdicts.append(Verdict(rule, conditions, matched, fires, reached, note))
    out.events = [_event(ruleset, rule, doc, scan) for rule in fired]
    return out


def explain_stored(ruleset: RuleSet, db_path: str | Path, doc_id: int) -> Explanation:
    """`explain` for a stored document. MissingDatabaseError when there is no database (none is
    created), InputError when it holds no document `doc_id`."""

    with Store(db_path, create=False) as store:
        view = stored_view(store, doc_id)
    if view is None:
        raise InputError(f"no document {doc_id} in {db_path}: `tracker documents` lists the stored ones")
    return explain(ruleset, view)


def explain_file(ruleset: RuleSet, config: Config, source: str, file: str | Path) -> list[Explanation]:
    """`explain` for each document of a local file read through a configured source's parser, as
    `tracker ingest` reads it; nothing is stored."""

    return [explain(ruleset, document_view(doc)) for doc in parse_file(config, source, file)]


def describe(ruleset: RuleSet, rule: Rule, check: Check, scan: Scan) -> Condition:
    """A check of the engine in words: what the rule asks for, and the value that decided."""
    name, ok, value = check.condition, check.ok, check.value
    if name in ("kinds", "sources", "languages"):
        wanted = {"kinds": rule.kinds, "sources": rule.sources, "languages": rule.languages}[name]
        what = {"kinds": "kind", "sources": "source", "languages": "language"}[name]
        return Condition(name, wanted, ok, str(value) if ok else f"document {what} is {value or '(none)'}")
    if name == "subtypes":
        wanted_low = {s.lower() for s in rule.subtypes}
        if ok:
            detail = ", ".join(s for s in value if s.lower() in wanted_low)
        else:
            detail = f"document subtypes: {', '.join(value)}" if value else "document has no subtype"
        return Condition(name, rule.subtypes, ok, detail)
    if name == "doc_number":
        want = "true" if rule.doc_number else "false"
        if value:
            detail = str(value) if ok else f"document has a number ({value})"
        else:
            detail = "document has no number"
        return Condition(name, (want,), ok, detail)
    if name == "minerals":
        named = scan.term_ids("any", MINERAL_TYPES, ruleset.vocab)
        detail = ", ".join(named) if named else "document names no mineral"
        return Condition(name, (rule.minerals,), ok, detail)
    region, part = name.split(" ")
    if region.endswith("_regex"):
        return _describe_regex(rule, name, region, part, ok, value)
    cond = rule.keywords["any" if region == "anywhere" else region]
    words: tuple[str, ...] = getattr(cond, part)
    found = [w for w in words if ruleset.matcher.keyword_id(w) in value]
    if part == "all":
        missing = [w for w in words if w not in found]
        detail = ", ".join(found) if ok else f"missing {', '.join(missing)}"
        if not ok and found:
            detail += f" (found {', '.join(found)})"
    elif part == "any":
        detail = ", ".join(found) if ok else "none found"
    else:
        detail = "none found" if ok else f"found {', '.join(found)}"
    return Condition(name, words, ok, detail)


def _describe_regex(rule: Rule, name: str, region: str, part: str, ok: bool, value: Any) -> Condition:
    cond = rule.regexes[region.split("_")[0]]
    wanted = tuple(p.source for p in getattr(cond, part))
    if part == "all":
        detail = "every pattern found" if ok else f"'{value.source}' not found"
    elif value is None:
        detail = "none matched"
    else:
        pattern, match = value
        detail = f"'{pattern.source}' matched {match.group(0)!r}"
    return Condition(name, wanted, ok, detail)


def _event(ruleset: RuleSet, rule: Rule, doc: DocView, scan: Scan) -> EventFound:
    draft = ruleset.emit(rule, doc, scan)
    spec = rule.refers_to
    if spec is None:
        refs = "the rule takes no references"
    else:
        how = spec.extract or f"pattern '{spec.pattern.source if spec.pattern else ''}'"
        refs = f"{how} from {spec.where}" + ("" if draft.refers_to else ": none found")
    minerals = ""
    if not draft.minerals and draft.refers_to:
        minerals = "none named: when stored, it takes the minerals of the measures it refers to"
    elif rule.minerals_from == "none":
        minerals = "the rule takes none (minerals_from: none)"
    return EventFound(
        draft,
        effective=_date_how(ruleset, rule.effective, doc),
        expires=_date_how(ruleset, rule.expires, doc),
        refers_to=refs,
        minerals=minerals,
    )


def _date_how(ruleset: RuleSet, spec: DateSpec, doc: DocView) -> str:
    when, pattern, match = ruleset.date_of(spec, doc)
    if pattern is not None:
        issue = ": the date of issue" if match.groupdict().get("announced") else ""
        return f"pattern '{pattern.source}' matched {match.group(0)!r}{issue}"
    if not spec.patterns and when is None:
        return "the rule gives none"
    tried = "no pattern matched" if spec.patterns else "no pattern"
    if spec.default == "announced":
        return f"{tried}: the date of issue (default: announced)" if when else f"{tried}; no date of issue"
    return tried


def _where(rule: Rule) -> str:
    return f"{rule.file}:{rule.line}"


def _event_lines(e: EventFound) -> list[str]:
    d = e.draft
    rows: list[tuple[str, str]] = [
        ("action", d.action),
        ("jurisdiction", d.jurisdiction),
        ("severity", d.severity),
        ("minerals", ", ".join(d.minerals) or "-"),
        ("items", ", ".join(d.items) or "-"),
        ("targets", ", ".join(d.targets) or "-"),
        ("announced", _day(d.announced)),
        ("effective", f"{_day(d.effective)}  ({e.effective})"),
        ("expires", f"{_day(d.expires)}  ({e.expires})"),
        ("refers_to", f"{', '.join(d.refers_to) or '-'}  ({e.refers_to})"),
        ("trigger", d.trigger),
    ]
    if e.minerals:
        rows[3] = ("minerals", f"{', '.join(d.minerals) or '-'}  ({e.minerals})")
    return [f"event from {d.rule}:"] + [f"  {k:<13} {v}" for k, v in rows]


def _day(d: date | None) -> str:
    return d.isoformat() if d else "-"
