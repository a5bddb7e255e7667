"""Rule files: parsing and validation with file:line errors, and the embedded examples.

Nothing in a rule file is ever evaluated as code: keywords are literals, patterns are regular
expressions compiled by tracker.patterns (the `regex` engine, run with a time limit; one that
backtracks catastrophically on short probes is refused), everything else is checked against fixed
vocabularies."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from tracker import patterns
from tracker.codes import ACTIONS, SEVERITIES
from tracker.errors import InputError
from tracker.patterns import Pattern
from tracker.rules import (
    REF_EXTRACTORS,
    VALUE_EXTRACTORS,
    VOCAB_FILES,
    Cond,
    DateSpec,
    DocView,
    Draft,
    FieldSpec,
    RefSpec,
    Rule,
    RuleSet,
    RuleTest,
)
from tracker.textutil import detect_language
from tracker.vocab import Vocabulary, load_vocabulary
from tracker.wording import did_you_mean
from tracker.yamlfile import LDict, RuleFileError, line_of, load_yaml, plain

# every key a rule file may use, by where it appears (rules/README.md documents each: a test compares)
FILE_KEYS = {"rules"}
RULE_KEYS = {"id", "title", "severity", "match", "emit", "tests", "continue"}
MATCH_KEYS = {
    "sources",
    "kinds",
    "languages",
    "subtypes",
    "doc_number",
    "title",
    "text",
    "anywhere",
    "title_regex",
    "text_regex",
    "minerals",
}
COND_KEYS = {"all", "any", "none"}
EMIT_KEYS = {
    "action",
    "jurisdiction",
    "targets",
    "targets_from",
    "minerals_from",
    "effective",
    "expires",
    "refers_to",
    "amount",
    "recipient",
    "diff_list",
}
DATE_KEYS = {"patterns", "default", "in"}
REF_KEYS = {"from", "extract", "pattern"}
AMOUNT_KEYS = {"patterns", "extract", "currency", "in"}
RECIPIENT_KEYS = {"patterns", "in"}
TEST_KEYS = {"title", "text", "source", "kind", "language", "published", "doc_number", "subtype", "expect"}
EXPECT_KEYS = {
    "action",
    "jurisdiction",
    "minerals",
    "items",
    "effective",
    "expires",
    "refers_to",
    "targets",
    "amount",
    "recipient",
}


def rule_files(folder: Path) -> list[Path]:
    """The rule files of a folder (the vocabulary files excluded), in name order."""
    return sorted(p for p in folder.glob("*.yaml") if p.name not in VOCAB_FILES)


def load_rules(folder: str | Path) -> RuleSet:
    """Load and validate every rule file; raise the first problem as RuleFileError."""
    ruleset, problems = check_rules(folder)
    if problems:
        raise problems[0]
    assert ruleset is not None
    return ruleset


def check_rules(
    folder: str | Path, sources: Collection[str] | None = None
) -> tuple[RuleSet | None, list[RuleFileError]]:
    """Validate every file of `folder`, collecting every problem (file:line: message). With
    `sources` (the configured source names), a rule's `sources:` must name some of them."""
    folder = Path(folder)
    if not folder.is_dir():
        return None, [RuleFileError(folder, None, "rules folder not found")]
    try:
        vocab = load_vocabulary(folder)
    except RuleFileError as exc:
        return None, [exc]
    problems: list[RuleFileError] = []
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    probed: dict[str, bool] = {}  # pattern -> it passed the probe: rules repeat their date patterns
    for path in rule_files(folder):
        try:
            data = load_yaml(path)
        except RuleFileError as exc:
            problems.append(exc)
            continue
        parser = _Parser(path, vocab, problems, sources, probed)
        for rule in parser.file(data):
            where = f"{path}:{rule.line}"
            if rule.id in seen:
                problems.append(
                    RuleFileError(
                        path, rule.line, f"duplicate rule id {rule.id!r} (first at {seen[rule.id]})"
                    )
                )
                continue
            seen[rule.id] = where
            rules.append(rule)
    return RuleSet(rules, vocab, folder), problems


@dataclass(frozen=True)
class _When:
    """What a rule's `match` asks of a document."""

    sources: tuple[str, ...]
    kinds: tuple[str, ...]
    languages: tuple[str, ...]
    subtypes: tuple[str, ...]
    doc_number: bool | None
    keywords: dict[str, Cond]
    regexes: dict[str, Cond]
    minerals: str


@dataclass(frozen=True)
class _Emit:
    """What a rule's `emit` makes of a match."""

    action: str
    jurisdiction: str
    targets: tuple[str, ...]
    targets_from: str | None
    minerals_from: str
    effective: DateSpec
    expires: DateSpec
    refers_to: RefSpec | None
    amount: FieldSpec | None
    recipient: FieldSpec | None
    diff_list: bool


class _Parser:
    """Reads the rules of one file, noting every problem it finds (file:line: message) in `problems`."""

    def __init__(
        self,
        path: Path,
        vocab: Vocabulary,
        problems: list[RuleFileError],
        sources: Collection[str] | None = None,
        probed: dict[str, bool] | None = None,
    ):
        self.path = path
        self.vocab = vocab
        self.problems = problems
        self.sources = sorted(sources) if sources is not None else None
        self.probed = {} if probed is None else probed  # the probes' verdicts, shared by a folder's files

    def err(self, line: int, message: str) -> None:
        self.problems.append(RuleFileError(self.path, line, message))

    def pattern(self, source: str, line: int, rid: str) -> Pattern | None:
        """A rule's regular expression, compiled with a time limit; None (and a problem) when it
        does not compile or backtracks catastrophically on a short probe."""
        try:
            compiled = Pattern(source, where=f"rule {rid!r} ({self.path}:{line})")
        except patterns.error as exc:
            self.err(line, f"rule {rid!r}: bad regular expression {source!r}: {exc}")
            return None
        if source not in self.probed:
            self.probed[source] = patterns.probe(source)
        if not self.probed[source]:
            self.err(
                line,
                f"rule {rid!r}: regular expression {source!r} backtracks catastrophically (over "
                f"{patterns.PROBE_SECONDS:g} s on a 31-character probe): avoid nested repetition such "
                "as (a+)+ or (a|aa)+",
            )
            return None
        return compiled

    def keys(self, m: LDict, allowed: set[str], what: str) -> bool:
        ok = True
        for key in m:
            if key not in allowed:
                hint = did_you_mean(key, allowed)
                self.err(m.line_of(key), f"unknown key {key!r} in {what}{hint}")
                ok = False
        return ok

    def file(self, data: Any) -> list[Rule]:
        if data is None:
            return []
        if not isinstance(data, LDict) or "rules" not in data:
            self.err(line_of(data, 1), "a rule file is a mapping with a 'rules' list")
            return []
        self.keys(data, FILE_KEYS, "the file")
        if not isinstance(data["rules"], list):
            self.err(data.line_of("rules"), "'rules' must be a list")
            return []
        out = []
        for entry in data["rules"]:
            before = len(self.problems)
            rule = self.rule(entry)
            if rule is not None and len(self.problems) == before:
                out.append(rule)
        return out

    def strings(self, value: Any, line: int, what: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.err(line, f"{what} must be a list of strings")
            return ()
        return tuple(value)  # the LStr items keep their lines, for errors about one item

    def rule(self, m: object) -> Rule | None:
        """One entry of `rules:`; None when it is too broken to read on (its problems noted)."""
        head = self.head(m)
        if head is None:
            return None
        entry, rid, match, emit = head
        when = self.when(match, rid)
        what = self.emit(emit, rid)
        tests = self.tests(entry.get("tests"), entry.line_of("tests"), rid)
        if not tests and not what.diff_list:
            self.err(entry.line, f"rule {rid!r}: add at least one example under 'tests'")
        # what is kept is plain (tracker.yamlfile.plain): the lines were for the problems above
        return Rule(
            id=str(rid),
            title=str(entry["title"]),
            severity=str(entry["severity"]),
            file=str(self.path),
            line=entry.line,
            action=what.action,
            jurisdiction=what.jurisdiction,
            sources=plain(when.sources),
            kinds=plain(when.kinds),
            languages=plain(when.languages),
            subtypes=plain(when.subtypes),
            doc_number=when.doc_number,
            keywords={fld: Cond(*map(plain, (c.all, c.any, c.none))) for fld, c in when.keywords.items()},
            regexes=when.regexes,
            minerals=when.minerals,
            targets=plain(what.targets),
            targets_from=what.targets_from,
            minerals_from=what.minerals_from,
            effective=what.effective,
            expires=what.expires,
            refers_to=what.refers_to,
            amount=what.amount,
            recipient=what.recipient,
            diff_list=what.diff_list,
            tests=tuple(tests),
            stop=entry.get("continue") is not True,
        )

    def head(self, m: object) -> tuple[LDict, str, LDict, LDict] | None:
        """A rule's keys, id, severity and its `match` and `emit` mappings (the rule, its id, match,
        emit); None when the rule has no usable id or lacks a required key."""
        if not isinstance(m, LDict):
            self.err(line_of(m, 1), "each rule is a mapping with id, title, severity, match, emit, tests")
            return None
        self.keys(m, RULE_KEYS, "a rule")
        rid = m.get("id")
        if not isinstance(rid, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", rid):
            self.err(
                m.line_of("id"), f"rule id must be lowercase letters, digits, '-', '_' or '.', got {rid!r}"
            )
            return None
        for key in ("title", "severity", "match", "emit"):
            if key not in m:
                self.err(m.line, f"rule {rid!r}: missing key {key!r}")
        if any(k not in m for k in ("title", "severity", "match", "emit")):
            return None
        severity = m["severity"]
        if severity not in SEVERITIES:
            self.err(
                m.line_of("severity"),
                f"rule {rid!r}: severity {severity!r} is not one of {', '.join(SEVERITIES)}",
            )
        return m, rid, self.section(m, "match", rid), self.section(m, "emit", rid)

    def section(self, m: LDict, key: str, rid: str) -> LDict:
        """A rule's `match` or `emit`; an empty mapping (and a problem) when it is something else."""
        value = m[key]
        if isinstance(value, LDict):
            return value
        self.err(m.line_of(key), f"rule {rid!r}: {key!r} must be a mapping")
        return LDict.at(m.line)

    def when(self, match: LDict, rid: str) -> _When:
        """A rule's `match`: which documents it looks at and what they must say."""
        self.keys(match, MATCH_KEYS, f"match of rule {rid!r}")
        keywords: dict[str, Cond] = {}
        regexes: dict[str, Cond] = {}
        for fld in ("title", "text", "anywhere"):
            if fld in match:
                keywords["any" if fld == "anywhere" else fld] = self.cond(
                    match[fld], match.line_of(fld), rid, fld, regex=False
                )
        for fld in ("title_regex", "text_regex"):
            if fld in match:
                regexes[fld.split("_")[0]] = self.cond(match[fld], match.line_of(fld), rid, fld, regex=True)
        minerals = match.get("minerals", "any")
        if minerals not in ("required", "absent", "any"):
            self.err(match.line_of("minerals"), f"rule {rid!r}: minerals must be required, absent or any")
        doc_number = match.get("doc_number")
        if doc_number is not None and not isinstance(doc_number, bool):
            self.err(match.line_of("doc_number"), f"rule {rid!r}: doc_number must be true or false")
            doc_number = None
        return _When(
            sources=self.source_names(match, rid),
            kinds=self.strings(match.get("kinds"), match.line_of("kinds"), "kinds"),
            languages=self.strings(match.get("languages"), match.line_of("languages"), "languages"),
            subtypes=self.strings(match.get("subtypes"), match.line_of("subtypes"), "subtypes"),
            doc_number=doc_number,
            keywords=keywords,
            regexes=regexes,
            minerals=str(minerals),
        )

    def emit(self, emit: LDict, rid: str) -> _Emit:
        """A rule's `emit`: the event a match makes."""
        self.keys(emit, EMIT_KEYS, f"emit of rule {rid!r}")
        action = emit.get("action")
        diff_list = emit.get("diff_list", False) is True
        if diff_list:
            action = action or "list_addition"
        if action not in ACTIONS:
            self.err(
                emit.line_of("action"), f"rule {rid!r}: action {action!r} is not one of {', '.join(ACTIONS)}"
            )
        jur = emit.get("jurisdiction")
        if (
            not isinstance(jur, str)
            or not (jur == "EU" or re.fullmatch(r"[A-Z]{2}", jur))
            or (self.vocab.iso_codes and jur not in self.vocab.iso_codes)
        ):
            self.err(
                emit.line_of("jurisdiction"),
                f"rule {rid!r}: jurisdiction {jur!r} is not an ISO 3166 alpha-2 code or EU",
            )
        targets = self.strings(emit.get("targets"), emit.line_of("targets"), "targets")
        for t in targets:
            if self.vocab.iso_codes and t not in self.vocab.iso_codes:
                self.err(
                    line_of(t, emit.line_of("targets")),
                    f"rule {rid!r}: target {t!r} is not an ISO 3166 alpha-2 code or EU",
                )
        targets_from = emit.get("targets_from")
        if targets_from not in (None, "countries"):
            self.err(emit.line_of("targets_from"), f"rule {rid!r}: targets_from must be 'countries'")
        minerals_from = emit.get("minerals_from", "title_then_text")
        if minerals_from not in ("title", "text", "title_then_text", "none"):
            self.err(
                emit.line_of("minerals_from"),
                f"rule {rid!r}: minerals_from must be title, text, title_then_text or none",
            )
        return _Emit(
            action=str(action),
            jurisdiction=str(jur),
            targets=targets,
            targets_from=None if targets_from is None else str(targets_from),
            minerals_from=str(minerals_from),
            effective=self.date_spec(emit.get("effective"), emit.line_of("effective"), rid, "announced"),
            expires=self.date_spec(emit.get("expires"), emit.line_of("expires"), rid, None),
            refers_to=self.ref_spec(emit.get("refers_to"), emit.line_of("refers_to"), rid),
            amount=self.field_spec(emit.get("amount"), emit.line_of("amount"), rid, "amount"),
            recipient=self.field_spec(emit.get("recipient"), emit.line_of("recipient"), rid, "recipient"),
            diff_list=diff_list,
        )

    def source_names(self, match: LDict, rid: str) -> tuple[str, ...]:
        """A rule's `sources:`; each must be a configured source when the names are known."""
        names = self.strings(match.get("sources"), match.line_of("sources"), "sources")
        configured = self.sources
        if configured is None:
            return names
        for name in names:
            if name not in configured:
                hint = did_you_mean(name, configured)
                known = ", ".join(configured) or "none"
                self.err(
                    line_of(name, match.line_of("sources")),
                    f"rule {rid!r}: no configured source is named {name!r}{hint}; configured: {known}",
                )
        return names

    def cond(self, value: Any, line: int, rid: str, fld: str, regex: bool) -> Cond:
        if isinstance(value, (str, list)):
            value = LDict.at(line, any=value)
        if not isinstance(value, LDict):
            self.err(line, f"rule {rid!r}: {fld} must be a mapping of all/any/none")
            return Cond()
        self.keys(value, COND_KEYS, f"{fld} of rule {rid!r}")
        parts: dict[str, tuple[Any, ...]] = {}
        for key in ("all", "any", "none"):
            items = self.strings(value.get(key), value.line_of(key), f"{fld}.{key}")
            if regex:
                compiled = []
                for item in items:
                    c = self.pattern(item, line_of(item, value.line_of(key)), rid)
                    if c is not None:
                        compiled.append(c)
                parts[key] = tuple(compiled)
            else:
                for item in items:
                    if not item.strip():
                        self.err(
                            line_of(item, value.line_of(key)), f"rule {rid!r}: empty keyword in {fld}.{key}"
                        )
                parts[key] = items
        return Cond(**parts)

    def date_spec(self, value: Any, line: int, rid: str, default: str | None) -> DateSpec:
        if value is None:
            return DateSpec(default=default)
        if isinstance(value, list):
            value = LDict.at(line, patterns=value)
        if not isinstance(value, LDict):
            self.err(line, f"rule {rid!r}: a date is a list of patterns, or a mapping of patterns/default/in")
            return DateSpec(default=default)
        self.keys(value, DATE_KEYS, f"a date of rule {rid!r}")
        pats = []
        for p in self.strings(value.get("patterns"), value.line_of("patterns"), "patterns"):
            c = self.pattern(p, line_of(p, value.line_of("patterns")), rid)
            if c is None:
                continue
            if not {"date", "announced"} & set(c.groupindex):
                self.err(
                    line_of(p, value.line_of("patterns")),
                    f"rule {rid!r}: pattern {p!r} needs a (?P<date>…) or (?P<announced>…) group",
                )
            pats.append(c)
        dflt = value.get("default", default)
        if dflt not in ("announced", None, "none"):
            self.err(value.line_of("default"), f"rule {rid!r}: default must be 'announced' or 'none'")
        where = value.get("in", "any")
        if where not in ("title", "text", "any"):
            self.err(value.line_of("in"), f"rule {rid!r}: 'in' must be title, text or any")
        return DateSpec(tuple(pats), None if dflt in (None, "none") else str(dflt), str(where))

    def field_spec(self, value: Any, line: int, rid: str, name: str) -> FieldSpec | None:
        """An `amount` or `recipient` of `emit`: patterns with a (?P<amount>…) or (?P<recipient>…)
        group (a list alone means patterns), `in`, and for an amount `extract: money` and the
        `currency` of a bare "$"."""
        if value is None:
            return None
        allowed = AMOUNT_KEYS if name == "amount" else RECIPIENT_KEYS
        if isinstance(value, (str, list)):
            value = LDict.at(line, patterns=value)
        if not isinstance(value, LDict):
            self.err(
                line,
                f"rule {rid!r}: {name} is a list of patterns, or a mapping of {', '.join(sorted(allowed))}",
            )
            return None
        self.keys(value, allowed, f"{name} of rule {rid!r}")
        pats = []
        for p in self.strings(value.get("patterns"), value.line_of("patterns"), "patterns"):
            c = self.pattern(p, line_of(p, value.line_of("patterns")), rid)
            if c is None:
                continue
            if name not in c.groupindex:
                self.err(
                    line_of(p, value.line_of("patterns")),
                    f"rule {rid!r}: pattern {p!r} needs a (?P<{name}>…) group",
                )
            pats.append(c)
        extract = value.get("extract") if name == "amount" else None
        if extract is not None and extract not in VALUE_EXTRACTORS:
            self.err(
                value.line_of("extract"),
                f"rule {rid!r}: extract must be {' or '.join(VALUE_EXTRACTORS)}, got {extract!r}",
            )
        currency = value.get("currency", "USD") if name == "amount" else "USD"
        if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
            self.err(
                value.line_of("currency"),
                f"rule {rid!r}: currency must be a three-letter code such as USD, AUD or JPY, got {currency!r}",
            )
            currency = "USD"
        where = value.get("in", "any")
        if where not in ("title", "text", "any"):
            self.err(value.line_of("in"), f"rule {rid!r}: 'in' must be title, text or any")
        if not pats and extract is None and "patterns" not in value:
            need = "'patterns' or 'extract'" if name == "amount" else "'patterns'"
            self.err(value.line, f"rule {rid!r}: {name} needs {need}")
        return FieldSpec(tuple(pats), None if extract is None else str(extract), str(currency), str(where))

    def ref_spec(self, value: Any, line: int, rid: str) -> RefSpec | None:
        if value is None:
            return None
        if not isinstance(value, LDict):
            self.err(line, f"rule {rid!r}: refers_to is a mapping of from/extract/pattern")
            return None
        self.keys(value, REF_KEYS, f"refers_to of rule {rid!r}")
        where = value.get("from", "title_then_text")
        if where not in ("title", "text", "any", "title_then_text"):
            self.err(value.line_of("from"), f"rule {rid!r}: from must be title, text, any or title_then_text")
            where = "any"
        extract = value.get("extract")
        if extract is not None and extract not in REF_EXTRACTORS:
            self.err(
                value.line_of("extract"), f"rule {rid!r}: extract must be one of {', '.join(REF_EXTRACTORS)}"
            )
        pattern = None
        if value.get("pattern") is not None:
            pattern = self.pattern(str(value["pattern"]), value.line_of("pattern"), rid)
            if pattern is not None and "ref" not in pattern.groupindex:
                self.err(
                    value.line_of("pattern"), f"rule {rid!r}: refers_to pattern needs a (?P<ref>…) group"
                )
        if extract is None and pattern is None:
            self.err(value.line, f"rule {rid!r}: refers_to needs 'extract' or 'pattern'")
        return RefSpec(str(where), extract, pattern)

    def tests(self, value: Any, line: int, rid: str) -> list[RuleTest]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.err(line, f"rule {rid!r}: tests must be a list")
            return []
        out = []
        for t in value:
            if not isinstance(t, LDict):
                self.err(
                    line_of(t, line), f"rule {rid!r}: each test is a mapping with title, text and expect"
                )
                continue
            self.keys(t, TEST_KEYS, f"a test of rule {rid!r}")
            if "title" not in t or "expect" not in t:
                self.err(t.line, f"rule {rid!r}: a test needs 'title' and 'expect' (null for 'no event')")
                continue
            expect = t["expect"]
            if expect is not None:
                if not isinstance(expect, LDict):
                    self.err(t.line_of("expect"), f"rule {rid!r}: expect must be a mapping or null")
                    continue
                self.keys(expect, EXPECT_KEYS, f"expect of a test of rule {rid!r}")
                for mid in self.strings(expect.get("minerals"), expect.line_of("minerals"), "minerals"):
                    term = self.vocab.terms.get(mid)
                    if term is None or term.type not in ("mineral", "group"):
                        hint = did_you_mean(mid, [t.id for t in self.vocab.of_type("mineral", "group")])
                        self.err(
                            line_of(mid, expect.line_of("minerals")),
                            f"rule {rid!r}: unknown mineral id {mid!r}{hint}",
                        )
                for key in ("effective", "expires"):
                    v = expect.get(key)
                    if v is not None and not isinstance(v, date):
                        self.err(
                            expect.line_of(key), f"rule {rid!r}: {key} must be a date (YYYY-MM-DD) or null"
                        )
                for key in ("amount", "recipient"):
                    v = expect.get(key)
                    if v is not None and not isinstance(v, str):
                        self.err(expect.line_of(key), f"rule {rid!r}: {key} must be text or null")
            doc = {k: t.get(k) for k in TEST_KEYS - {"expect"}}
            if doc.get("published") is not None and not isinstance(doc["published"], date):
                self.err(t.line_of("published"), f"rule {rid!r}: published must be a date (YYYY-MM-DD)")
            out.append(RuleTest(line=t.line, doc=plain(doc), expect=plain(expect)))
        return out


# --- embedded examples ---------------------------------------------------------------------------


@dataclass
class TestResult:
    """One embedded example, run."""

    rule: Rule
    test: RuleTest
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def where(self) -> str:
        return f"{self.rule.file}:{self.test.line}"


def test_doc(test: RuleTest) -> DocView:
    """The document an example describes."""
    d = test.doc
    subtype = d.get("subtype")
    return DocView(
        title=str(d.get("title") or ""),
        text=str(d.get("text") or ""),
        source=str(d.get("source") or ""),
        kind=str(d.get("kind") or ""),
        language=str(d.get("language") or detect_language(f"{d.get('title') or ''}\n{d.get('text') or ''}")),
        published=d.get("published") or date(2025, 1, 1),
        doc_number=d.get("doc_number"),
        subtypes=(str(subtype),) if subtype else (),
    )


def run_tests(ruleset: RuleSet, only: Sequence[str] = ()) -> list[TestResult]:
    """Classify every rule's examples with the whole rule set and compare with `expect`; `only`
    keeps the examples of those rules (InputError for an id no rule has)."""
    ids = [r.id for r in ruleset.rules]
    for rid in only:
        if rid not in ids:
            hint = did_you_mean(rid, ids)
            where = f" in {ruleset.folder}" if ruleset.folder is not None else ""
            raise InputError(f"no rule {rid!r}{where}{hint}")
    results = []
    for rule in ruleset.rules:
        if only and rule.id not in only:
            continue
        for test in rule.tests:
            drafts = ruleset.classify(test_doc(test))
            results.append(TestResult(rule, test, _compare(rule, test.expect, drafts)))
    return results


def _compare(rule: Rule, expect: dict[str, Any] | None, drafts: list[Draft]) -> list[str]:
    mine = [d for d in drafts if d.rule == rule.id]
    if expect is None:
        return [f"expected no event from {rule.id!r}, got {mine[0].action}"] if mine else []
    if not mine:
        got = f" (rule {drafts[0].rule!r} matched first)" if drafts else ""
        return [f"expected an event from {rule.id!r}, got none{got}"]
    d = mine[0]
    problems = []
    for key in ("action", "jurisdiction", "effective", "expires", "amount", "recipient"):
        if key in expect and getattr(d, key) != expect[key]:
            problems.append(f"{key}: expected {_shown(expect[key])}, got {_shown(getattr(d, key))}")
    for key in ("minerals", "items", "refers_to", "targets"):
        if key in expect:
            want = [expect[key]] if isinstance(expect[key], str) else list(expect[key] or [])
            missing = [w for w in want if w not in getattr(d, key)]
            if missing or (not want and getattr(d, key)):
                problems.append(f"{key}: expected {want}, got {getattr(d, key)}")
    return problems


def _shown(value: Any) -> str:
    """A value of an example as the rule file writes it: 2031-03-01, null, 'suspension'."""
    if isinstance(value, date):
        return value.isoformat()
    return "null" if value is None else repr(value)
