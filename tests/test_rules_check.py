"""Malformed rule and vocabulary files give one clear error per problem, naming file, line and
what is wrong: through `tracker.rules.check_rules` and through `tracker rules check / test`."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from tracker import rulefile, yamlfile
from tracker.cli import cli
from tracker.config import load_config
from tracker.rulefile import check_rules, load_rules, run_tests
from tracker.rules import DocView, default_rules_dir
from tracker.vocab import _COUNTRY_KEYS, _ENTRY_KEYS
from tracker.yamlfile import RuleFileError, line_of, load_yaml_text

REPO_RULES = Path(__file__).parent.parent / "rules"
VOCAB_FILES = ("minerals.yaml", "countries.yaml")

# One valid rule; each defect below is this file with one line changed.
VALID = r"""
rules:
  - id: cn-test-gallium
    title: MOFCOM controls gallium exports
    severity: high
    match:
      kinds: [mofcom]
      title:
        any: [出口管制]
      title_regex:
        none: ['答记者问']
    emit:
      action: new_control
      jurisdiction: CN
      effective:
        patterns:
          - '自(?P<date>\d{4}年\d{1,2}月\d{1,2}日)起'
        default: announced
    tests:
      - title: 关于对镓相关物项实施出口管制的公告
        text: 自2030年8月1日起施行。
        kind: mofcom
        published: 2030-07-03
        expect: {action: new_control, jurisdiction: CN, minerals: [gallium], effective: 2030-08-01}
"""

# A small vocabulary; each vocabulary defect below is this file with one line changed.
MINI_VOCAB = """
minerals:
  gallium:
    name: Gallium
    symbol: Ga
    en: [gallium]
    zh: [镓]
  germanium:
    name: Germanium
    symbol: Ge
    en:
      - germanium
    zh: [锗]
  neodymium:
    name: Neodymium
    symbol: Nd
    groups: [rare-earths]
    en: [neodymium]
groups:
  rare-earths:
    name: Rare earths
    en: [rare earths, rare earth elements]
items: {}
"""


# --- helpers -----------------------------------------------------------------------------------


def rules_folder(tmp_path: Path, files: dict[str, str] | None = None, vocab: bool = True) -> Path:
    """A rules folder in tmp_path: the real vocabulary files, plus `files` (name -> YAML text)."""
    folder = tmp_path / "rules"
    folder.mkdir()
    if vocab:
        for name in VOCAB_FILES:
            shutil.copy(REPO_RULES / name, folder / name)
    for name, text in (files or {}).items():
        (folder / name).write_text(text, "utf-8")
    return folder


def clean(text: str) -> str:
    """Dedented YAML, without the leading newline of a triple-quoted string."""
    return textwrap.dedent(text).lstrip("\n")


def mutate(text: str, old: str, new: str) -> str:
    """`text` with the one occurrence of `old` replaced by `new`."""
    text = clean(text)
    assert text.count(old) == 1, f"{old!r} must occur exactly once"
    return text.replace(old, new)


def line_at(text: str, fragment: str) -> int:
    """The 1-based line of the one line of `text` that contains `fragment`."""
    lines = [i for i, line in enumerate(text.splitlines(), 1) if fragment in line]
    assert len(lines) == 1, f"{fragment!r} is on lines {lines}, expected exactly one"
    return lines[0]


def the_problem(problems: list[RuleFileError], fragment: str) -> RuleFileError:
    """The one problem whose message contains `fragment`."""
    found = [p for p in problems if fragment in p.message]
    assert len(found) == 1, f"{fragment!r} in {[str(p) for p in problems]}"
    return found[0]


def assert_problem(problems: list[RuleFileError], file: Path, line: int, *fragments: str) -> RuleFileError:
    """There is a problem in `file` at `line` whose message holds every fragment, and its str()
    is file:line: message."""
    problem = the_problem(problems, fragments[0])
    assert (problem.file, problem.line) == (str(file), line), str(problem)
    for fragment in fragments[1:]:
        assert fragment in problem.message, str(problem)
    assert str(problem) == f"{file}:{line}: {problem.message}"
    return problem


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def check_cli(folder: Path) -> Result:
    """`tracker --rules FOLDER rules check`"""
    return run("--rules", str(folder), "rules", "check")


def examples_cli(folder: Path) -> Result:
    """`tracker --rules FOLDER rules test`"""
    return run("--rules", str(folder), "rules", "test")


def assert_no_traceback(result: Result) -> None:
    assert "Traceback" not in result.output
    assert "internal error" not in result.output


# --- the baseline ------------------------------------------------------------------------------


def test_the_valid_rule_checks_clean_and_its_example_passes(tmp_path: Path) -> None:
    folder = rules_folder(tmp_path, {"test.yaml": clean(VALID)})
    ruleset, problems = check_rules(folder)
    assert problems == []
    assert ruleset is not None and [r.id for r in ruleset.rules] == ["cn-test-gallium"]
    assert all(r.ok for r in run_tests(ruleset))
    result = check_cli(folder)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("OK")
    assert "1 rule in 1 file;" in result.stdout
    assert examples_cli(folder).exit_code == 0


# --- one defect, one problem at its line ---------------------------------------------------------

RULE_DEFECTS = [
    pytest.param(
        "    severity: high",
        "    severty: high",
        "severty:",
        ["unknown key 'severty'", "did you mean 'severity'"],
        id="unknown-rule-key",
    ),
    pytest.param(
        "      kinds: [mofcom]",
        "      kinds: [mofcom]\n      keywrds: [镓]",
        "keywrds:",
        ["unknown key 'keywrds' in match of rule 'cn-test-gallium'"],
        id="unknown-match-key",
    ),
    pytest.param(
        "      kinds: [mofcom]",
        "      languges: [zh]",
        "languges:",
        ["unknown key 'languges' in match", "did you mean 'languages'"],
        id="unknown-match-key-with-suggestion",
    ),
    pytest.param(
        "      action: new_control",
        "      action: new_control\n      targts: [US]",
        "targts:",
        ["unknown key 'targts' in emit of rule 'cn-test-gallium'", "did you mean 'targets'"],
        id="unknown-emit-key",
    ),
    pytest.param(
        "        any: [出口管制]",
        "        alll: [出口管制]",
        "alll:",
        ["unknown key 'alll' in title of rule 'cn-test-gallium'", "did you mean 'all'"],
        id="unknown-cond-key",
    ),
    pytest.param(
        "        default: announced",
        "        defualt: announced",
        "defualt:",
        ["unknown key 'defualt' in a date of rule", "did you mean 'default'"],
        id="unknown-date-key",
    ),
    pytest.param(
        "        kind: mofcom",
        "        knd: mofcom",
        "knd:",
        ["unknown key 'knd' in a test of rule", "did you mean 'kind'"],
        id="unknown-test-key",
    ),
    pytest.param(
        "minerals: [gallium]",
        "minerals: [galium]",
        "galium",
        ["unknown mineral id 'galium'", "did you mean 'gallium'"],
        id="unknown-mineral-flow-list",
    ),
    pytest.param(
        "        none: ['答记者问']",
        "        none: ['答记者问(']",
        "答记者问(",
        ["bad regular expression '答记者问('", "missing )"],
        id="bad-title-regex",
    ),
    pytest.param(
        "        none: ['答记者问']",
        "        none: ['(a|aa)+$']",
        "(a|aa)+$",
        ["regular expression '(a|aa)+$' backtracks catastrophically", "nested repetition"],
        id="catastrophic-regex",
    ),
    pytest.param(
        r"          - '自(?P<date>\d{4}年\d{1,2}月\d{1,2}日)起'",
        r"          - '(?P<date>(\d|\d\d)+)$'",
        r"(\d|\d\d)+",
        ["backtracks catastrophically"],
        id="catastrophic-effective-pattern",
    ),
    pytest.param(
        r"          - '自(?P<date>\d{4}年\d{1,2}月\d{1,2}日)起'",
        r"          - '自(?P<date>\d{4}年[\d{1,2}月\d{1,2}日)起'",
        "(?P<date>",
        ["bad regular expression", "unterminated character set"],
        id="bad-effective-pattern",
    ),
    pytest.param(
        r"          - '自(?P<date>\d{4}年\d{1,2}月\d{1,2}日)起'",
        r"          - '自(\d{4}年\d{1,2}月\d{1,2}日)起'",
        r"'自(\d{4}",
        ["needs a (?P<date>…) or (?P<announced>…) group"],
        id="pattern-without-date-group",
    ),
    pytest.param(
        "    severity: high",
        "    severity: urgent",
        "severity: urgent",
        ["severity 'urgent' is not one of info, low, medium, high, critical"],
        id="unknown-severity",
    ),
    pytest.param(
        "      action: new_control",
        "      action: ban",
        "action: ban",
        ["action 'ban' is not one of new_control, expanded_control"],
        id="unknown-action",
    ),
    pytest.param(
        "      jurisdiction: CN",
        "      jurisdiction: XX",
        "jurisdiction: XX",
        ["jurisdiction 'XX' is not an ISO 3166 alpha-2 code or EU"],
        id="jurisdiction-not-iso",
    ),
    pytest.param(
        "      jurisdiction: CN",
        "      jurisdiction: china",
        "jurisdiction: china",
        ["jurisdiction 'china' is not an ISO 3166 alpha-2 code or EU"],
        id="jurisdiction-a-name",
    ),
    pytest.param(
        "        published: 2030-07-03",
        "        published: 2030-13-03",
        "published:",
        ["'2030-13-03' is not a valid date", "month must be in 1..12"],
        id="impossible-date",
    ),
]


@pytest.mark.parametrize(("old", "new", "marker", "fragments"), RULE_DEFECTS)
def test_a_defect_is_reported_at_its_line(
    tmp_path: Path, old: str, new: str, marker: str, fragments: list[str]
) -> None:
    text = mutate(VALID, old, new)
    marker_line = line_at(text, marker)
    folder = rules_folder(tmp_path, {"test.yaml": text})
    _, problems = check_rules(folder)
    problem = assert_problem(problems, folder / "test.yaml", marker_line, *fragments)
    assert all(p.file == str(folder / "test.yaml") for p in problems)

    result = check_cli(folder)
    assert result.exit_code == 1
    assert str(problem) in result.stdout.splitlines()
    assert_no_traceback(result)


@pytest.mark.parametrize("tests", ["", "    tests: []\n", "    tests:\n"])
def test_rule_without_tests_is_reported_at_the_rule(tmp_path: Path, tests: str) -> None:
    text = clean(VALID).split("    tests:\n")[0] + tests
    folder = rules_folder(tmp_path, {"test.yaml": text})
    _, problems = check_rules(folder)
    assert len(problems) == 1
    assert_problem(
        problems, folder / "test.yaml", line_at(text, "- id: cn-test-gallium"), "add at least one example"
    )


def test_unknown_key_also_names_the_missing_required_key(tmp_path: Path) -> None:
    text = mutate(VALID, "    severity: high", "    severty: high")
    folder = rules_folder(tmp_path, {"test.yaml": text})
    _, problems = check_rules(folder)
    path = folder / "test.yaml"
    assert_problem(problems, path, line_at(text, "severty:"), "unknown key 'severty' in a rule")
    assert_problem(problems, path, line_at(text, "- id:"), "missing key 'severity'")


# --- `sources:` names configured sources --------------------------------------------------------

CONFIGURED = sorted(load_config(None, use_user_config=False).sources)  # the built-in sources


@pytest.mark.parametrize(
    ("sources", "marker", "message"),
    [
        pytest.param(
            "      sources: [mofcom-old]",
            "sources:",
            "no configured source is named 'mofcom-old' (did you mean 'mofcom'?); configured: "
            + ", ".join(CONFIGURED),
            id="flow-list-with-suggestion",
        ),
        pytest.param(
            "      sources:\n        - mofcom\n        - ministry",
            "- ministry",
            "no configured source is named 'ministry'; configured: " + ", ".join(CONFIGURED),
            id="block-list-second-item",
        ),
        pytest.param(
            "      sources: whitehous",
            "sources:",
            "no configured source is named 'whitehous' (did you mean 'whitehouse'?)",
            id="one-name",
        ),
    ],
)
def test_a_source_no_config_has_is_reported_at_its_line(
    tmp_path: Path, sources: str, marker: str, message: str
) -> None:
    text = mutate(VALID, "      kinds: [mofcom]", sources)
    folder = rules_folder(tmp_path, {"test.yaml": text})
    _, problems = check_rules(folder, sources=CONFIGURED)
    assert len(problems) == 1
    assert_problem(
        problems, folder / "test.yaml", line_at(text, marker), f"rule 'cn-test-gallium': {message}"
    )
    # without the configured names (loading rules to fetch), a source name is not checked
    assert check_rules(folder)[1] == []

    result = check_cli(folder)  # the CLI passes the names of the config in use: the built-in ones
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [str(problems[0])]
    assert_no_traceback(result)


def test_a_source_of_the_config_in_use_is_known_to_rules_check(tmp_path: Path) -> None:
    text = mutate(VALID, "      kinds: [mofcom]", "      sources: [ministry]")
    folder = rules_folder(tmp_path, {"test.yaml": text})
    config = tmp_path / "ministry.toml"  # not ./tracker.toml, which `tracker` would read anyway
    config.write_text(
        '[sources.ministry]\nkind = "html-list"\nurl = "https://example.org/notices/"\n'
        'item = "ul.notices li"\n',
        "utf-8",
    )
    assert "no configured source is named 'ministry'" in check_cli(folder).stdout
    result = run("--config", str(config), "--rules", str(folder), "rules", "check")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("OK")


def test_unknown_mineral_is_reported_on_the_line_of_its_list_entry(tmp_path: Path) -> None:
    text = mutate(
        VALID,
        "        expect: {action: new_control, jurisdiction: CN, minerals: [gallium], effective: 2030-08-01}",
        "        expect:\n"
        "          action: new_control\n"
        "          minerals:\n"
        "            - gallium\n"
        "            - galium\n"
        "            - germanium",
    )
    folder = rules_folder(tmp_path, {"test.yaml": text})
    _, problems = check_rules(folder)
    assert len(problems) == 1
    assert_problem(
        problems,
        folder / "test.yaml",
        line_at(text, "- galium"),
        "rule 'cn-test-gallium': unknown mineral id 'galium'",
        "(did you mean 'gallium'?)",
    )


def test_bad_regex_in_a_title_regex_list_is_reported_on_the_pattern_line(tmp_path: Path) -> None:
    text = mutate(
        VALID,
        "        none: ['答记者问']",
        "        none:\n          - '答记者问'\n          - '(?P<x>解读'\n          - '问答'",
    )
    folder = rules_folder(tmp_path, {"test.yaml": text})
    _, problems = check_rules(folder)
    assert len(problems) == 1
    assert_problem(
        problems, folder / "test.yaml", line_at(text, "(?P<x>"), "bad regular expression '(?P<x>解读'"
    )


def test_bad_refers_to_pattern_and_extractor(tmp_path: Path) -> None:
    text = mutate(
        VALID,
        "      jurisdiction: CN\n",
        "      jurisdiction: CN\n"
        "      refers_to:\n"
        "        extract: mofcom-announcement\n"
        "        pattern: '(?P<rf>\\d+'\n",
    )
    folder = rules_folder(tmp_path, {"test.yaml": text})
    _, problems = check_rules(folder)
    path = folder / "test.yaml"
    assert_problem(problems, path, line_at(text, "extract:"), "extract must be one of mofcom-announcements")
    assert_problem(problems, path, line_at(text, "pattern: '(?P<rf>"), "bad regular expression")


# --- across files, and whole-file errors ---------------------------------------------------------


def test_duplicate_rule_id_across_files_names_the_first(tmp_path: Path) -> None:
    first = clean(VALID)
    second = mutate(VALID, "    title: MOFCOM controls gallium exports", "    title: Another copy")
    folder = rules_folder(tmp_path, {"a.yaml": first, "b.yaml": second})
    ruleset, problems = check_rules(folder)
    assert len(problems) == 1
    line = line_at(second, "- id: cn-test-gallium")
    assert_problem(
        problems,
        folder / "b.yaml",
        line,
        "duplicate rule id 'cn-test-gallium'",
        f"(first at {folder / 'a.yaml'}:{line_at(first, '- id: cn-test-gallium')})",
    )
    assert ruleset is not None and [r.title for r in ruleset.rules] == ["MOFCOM controls gallium exports"]
    result = check_cli(folder)
    assert result.exit_code == 1
    assert str(problems[0]) in result.stdout


def test_duplicate_yaml_key_in_one_mapping(tmp_path: Path) -> None:
    text = mutate(VALID, "      jurisdiction: CN\n", "      jurisdiction: CN\n      action: lift\n")
    folder = rules_folder(tmp_path, {"test.yaml": text})
    _, problems = check_rules(folder)
    assert len(problems) == 1
    assert_problem(
        problems,
        folder / "test.yaml",
        line_at(text, "action: lift"),
        "duplicate key 'action'",
        f"(first at line {line_at(text, '      action: new_control')})",
    )


@pytest.mark.parametrize(
    ("old", "new", "marker", "fragment"),
    [
        pytest.param(
            "        text: 自2030年8月1日起施行。",
            "        text: 施行日期: 2030年8月1日",
            "施行日期",
            "mapping values are not allowed here",
            id="colon-in-plain-text",
        ),
        pytest.param(
            "    severity: high",
            "    severity: high\n\tmatch: x",
            "\tmatch",
            "found character '\\t' that cannot start any token",
            id="tab",
        ),
        pytest.param(
            "    match:\n",
            "   match:\n",
            "   match:",
            "expected <block end>",
            id="indentation",
        ),
    ],
)
def test_yaml_syntax_error_names_its_line(
    tmp_path: Path, old: str, new: str, marker: str, fragment: str
) -> None:
    text = mutate(VALID, old, new)
    folder = rules_folder(tmp_path, {"test.yaml": text})
    _, problems = check_rules(folder)
    assert len(problems) == 1
    problem = assert_problem(problems, folder / "test.yaml", line_at(text, marker), "YAML syntax:", fragment)
    result = check_cli(folder)
    assert result.exit_code == 1
    assert str(problem) in result.stdout
    assert_no_traceback(result)


def test_unclosed_bracket_names_the_line_it_opened_on(tmp_path: Path) -> None:
    text = mutate(VALID, "      kinds: [mofcom]", "      kinds: [mofcom")
    folder = rules_folder(tmp_path, {"test.yaml": text})
    _, problems = check_rules(folder)
    assert len(problems) == 1
    # PyYAML notices on the next line; the message points back to the bracket
    assert_problem(
        problems,
        folder / "test.yaml",
        line_at(text, "      kinds:") + 1,
        "YAML syntax: expected ',' or ']'",
        f"(while parsing a flow sequence started at line {line_at(text, '      kinds:')})",
    )


def test_a_broken_file_does_not_hide_the_problems_of_another(tmp_path: Path) -> None:
    broken = mutate(VALID, "      kinds: [mofcom]", "      kinds: [mofcom")
    other = mutate(VALID, "  - id: cn-test-gallium", "  - id: cn-other").replace(
        "severity: high", "severity: hi"
    )
    folder = rules_folder(tmp_path, {"a.yaml": broken, "b.yaml": other})
    _, problems = check_rules(folder)
    assert {p.file for p in problems} == {str(folder / "a.yaml"), str(folder / "b.yaml")}
    assert_problem(problems, folder / "b.yaml", line_at(other, "severity: hi"), "severity 'hi'")


def test_every_problem_of_a_file_is_reported_each_at_its_line(tmp_path: Path) -> None:
    text = clean(
        """
        rules:
          - id: cn-broken-one
            title: Broken one
            severity: urgent
            match:
              kinds: [mofcom]
              titel: [出口管制]
              text_regex:
                any: ['[unclosed']
            emit:
              action: ban
              jurisdiction: china
            tests:
              - title: 关于对镓实施出口管制的公告
                expect: {minerals: [galium]}
          - id: cn-broken-two
            title: Broken two
            severity: high
            match:
              kinds: [mofcom]
            emit:
              action: other
              jurisdiction: XX
        """
    )
    folder = rules_folder(tmp_path, {"broken.yaml": text})
    ruleset, problems = check_rules(folder)
    path = str(folder / "broken.yaml")
    expected = {
        (line_at(text, "severity: urgent"), "severity 'urgent'"),
        (
            line_at(text, "titel:"),
            "unknown key 'titel' in match of rule 'cn-broken-one' (did you mean 'title'?)",
        ),
        (line_at(text, "[unclosed"), "bad regular expression '[unclosed'"),
        (line_at(text, "action: ban"), "action 'ban'"),
        (line_at(text, "jurisdiction: china"), "jurisdiction 'china'"),
        (line_at(text, "galium"), "unknown mineral id 'galium'"),
        (line_at(text, "jurisdiction: XX"), "rule 'cn-broken-two': jurisdiction 'XX'"),
        (line_at(text, "- id: cn-broken-two"), "rule 'cn-broken-two': add at least one example"),
    }
    assert len(problems) == len(expected), [str(p) for p in problems]
    for line, fragment in expected:
        assert_problem(problems, folder / "broken.yaml", line, fragment)
    assert all(p.file == path for p in problems)
    assert ruleset is not None and ruleset.rules == []  # a rule with a problem is never used

    result = check_cli(folder)
    assert result.exit_code == 1
    printed = [line for line in result.stdout.splitlines() if line.startswith(path + ":")]
    assert sorted(printed) == sorted(str(p) for p in problems)
    assert f"{len(expected)} problem{'' if len(expected) == 1 else 's'} in" in result.stderr

    # load_rules (what fetch and `rules test` use) raises the first problem, one line in the CLI
    with pytest.raises(RuleFileError) as exc:
        load_rules(folder)
    assert str(exc.value) == str(problems[0])
    result = examples_cli(folder)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {problems[0]}"
    assert_no_traceback(result)


# --- the jurisdiction NO (Norway) is a string ----------------------------------------------------


def test_jurisdiction_no_is_norway_not_false(tmp_path: Path) -> None:
    text = mutate(VALID, "      jurisdiction: CN", "      jurisdiction: NO").replace(
        "jurisdiction: CN,", "jurisdiction: NO,"
    )
    folder = rules_folder(tmp_path, {"norway.yaml": text})
    ruleset, problems = check_rules(folder)
    assert problems == []
    assert ruleset is not None
    assert ruleset.rules[0].jurisdiction == "NO"
    assert ruleset.rules[0].tests[0].expect is not None
    assert ruleset.rules[0].tests[0].expect["jurisdiction"] == "NO"
    assert all(r.ok for r in run_tests(ruleset))
    result = check_cli(folder)
    assert result.exit_code == 0 and result.stdout.strip().endswith("OK")
    assert examples_cli(folder).exit_code == 0
    # only true/false are booleans in these files
    assert load_yaml_text("a: NO\nb: yes\nc: off\nd: true\ne: False", "x.yaml") == {
        "a": "NO",
        "b": "yes",
        "c": "off",
        "d": True,
        "e": False,
    }


# --- the vocabulary ----------------------------------------------------------------------------

VOCAB_DEFECTS = [
    pytest.param(
        "      - germanium\n",
        "      - germanium\n      - Gallium\n",
        "- Gallium",
        ["germanium: alias 'gallium' already names 'gallium'"],
        id="alias-already-names",
    ),
    pytest.param(
        "    zh: [锗]",
        "    zh: [锗, 镓]",
        "zh: [锗, 镓]",
        ["germanium: alias '镓' already names 'gallium'"],
        id="alias-already-names-zh",
    ),
    pytest.param(
        "    symbol: Ge",
        "    symbl: Ge",
        "symbl:",
        ["germanium: unknown key 'symbl'", "did you mean 'symbol'"],
        id="unknown-key",
    ),
    pytest.param(
        "    symbol: Ge",
        "    symbol: GE",
        "symbol: GE",
        ["germanium: 'GE' is not a chemical symbol"],
        id="bad-symbol",
    ),
    pytest.param(
        "    name: Germanium\n",
        "",
        "symbol: Ge",  # the entry starts there
        ["germanium: 'name' is required"],
        id="missing-name",
    ),
    pytest.param(
        "    groups: [rare-earths]",
        "    groups: [rare-earth]",
        "groups: [rare-earth]",
        ["unknown group 'rare-earth'", "of neodymium"],
        id="unknown-group",
    ),
    pytest.param(
        "    groups: [rare-earths]",
        "    groups: rare-earths",
        "groups: rare-earths",
        ["neodymium: 'groups' must be a list"],
        id="groups-not-a-list",
    ),
    pytest.param(
        "items: {}",
        "items:\n  gallium: {name: Gallium again}",
        "Gallium again",
        ["id 'gallium' is defined twice"],
        id="id-defined-twice",
    ),
    pytest.param(
        "  germanium:",
        "  Germanium:",
        "Germanium:",
        ["id 'Germanium': use lowercase words joined by hyphens"],
        id="bad-id",
    ),
    pytest.param(
        "    en: [neodymium]",
        "    en: neodymium",
        "en: neodymium",
        ["neodymium: 'en' must be a list of names"],
        id="aliases-not-a-list",
    ),
    pytest.param(
        "    en: [neodymium]",
        "    en: [neodymium]\n    name: Neodymium again",
        "Neodymium again",
        ["duplicate key 'name'"],
        id="duplicate-key",
    ),
    pytest.param(
        "items: {}",
        "item: {}",
        "item: {}",
        ["unknown key 'item' (expected minerals, groups, items)"],
        id="unknown-section",
    ),
]


@pytest.mark.parametrize(("old", "new", "marker", "fragments"), VOCAB_DEFECTS)
def test_vocabulary_defect_names_minerals_yaml_and_line(
    tmp_path: Path, old: str, new: str, marker: str, fragments: list[str]
) -> None:
    text = mutate(MINI_VOCAB, old, new)
    line = line_at(text, marker)
    folder = rules_folder(tmp_path, {"test.yaml": clean(VALID)})
    (folder / "minerals.yaml").write_text(text, "utf-8")
    ruleset, problems = check_rules(folder)
    assert ruleset is None and len(problems) == 1
    problem = assert_problem(problems, folder / "minerals.yaml", line, *fragments)

    result = check_cli(folder)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [str(problem)]
    assert_no_traceback(result)
    result = examples_cli(folder)
    assert result.exit_code == 2
    assert f"error: {problem}" in result.stderr
    assert_no_traceback(result)


def test_the_small_vocabulary_is_valid(tmp_path: Path) -> None:
    folder = rules_folder(tmp_path)
    (folder / "minerals.yaml").write_text(clean(MINI_VOCAB), "utf-8")
    ruleset, problems = check_rules(folder)
    assert problems == [] and ruleset is not None
    assert ruleset.vocab.terms["rare-earths"].members == ("neodymium",)


@pytest.mark.parametrize(
    ("old", "new", "second", "first", "message"),
    [
        pytest.param(
            "      - germanium\n",
            "      - germanium\n      - Gallium\n",
            "- Gallium",
            "  gallium:",  # an id is an alias of its own entry
            "germanium: alias 'gallium' already names 'gallium'",
            id="under-two-minerals-block-list",
        ),
        pytest.param(
            "    zh: [锗]",
            "    zh: [锗, 镓]",
            "zh: [锗, 镓]",
            "zh: [镓]",
            "germanium: alias '镓' already names 'gallium'",
            id="under-two-minerals-zh",
        ),
        pytest.param(
            "    en: [rare earths, rare earth elements]",
            "    en: [rare earths, rare earth elements, neodymium]",
            "elements, neodymium]",
            "  neodymium:",
            "rare-earths: alias 'neodymium' already names 'neodymium'",
            id="a-group-taking-a-mineral-name",
        ),
        pytest.param(
            "      - germanium\n",
            "      - germanium\n      - Germanium\n",
            "- Germanium",
            "- germanium",
            "germanium: alias 'germanium' is listed twice in 'en'",
            id="twice-under-one-mineral",
        ),
        pytest.param(
            "    en: [gallium]",
            "    en: [gallium, Gallium]",
            "en: [gallium, Gallium]",
            "en: [gallium, Gallium]",
            "gallium: alias 'gallium' is listed twice in 'en'",
            id="twice-in-one-flow-list",
        ),
    ],
)
def test_a_duplicate_alias_is_reported_where_it_is_added_naming_the_first(
    tmp_path: Path, old: str, new: str, second: str, first: str, message: str
) -> None:
    text = mutate(MINI_VOCAB, old, new)
    folder = rules_folder(tmp_path, {"test.yaml": clean(VALID)})
    path = folder / "minerals.yaml"
    path.write_text(text, "utf-8")
    _, problems = check_rules(folder)
    assert len(problems) == 1
    full = f"{message} (first at {path}:{line_at(text, first)})"
    problem = assert_problem(problems, path, line_at(text, second), full)
    assert problem.message == full

    result = check_cli(folder)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [str(problem)]


def test_one_name_in_zh_and_ja_of_one_entry_is_no_duplicate(tmp_path: Path) -> None:
    text = mutate(MINI_VOCAB, "    zh: [镓]", "    zh: [镓]\n    ja: [镓, ガリウム]")
    folder = rules_folder(tmp_path)
    (folder / "minerals.yaml").write_text(text, "utf-8")
    ruleset, problems = check_rules(folder)
    assert problems == [] and ruleset is not None
    assert ruleset.vocab.resolve("镓") == ruleset.vocab.resolve("ガリウム") == "gallium"


MINI_COUNTRIES = """
countries:
  CN:
    name: China
    en: [china, chinese]
  NO:
    name: Norway
    en: [norway, norwegian]
iso_codes: [CN, NO, US]
"""


@pytest.mark.parametrize(
    ("old", "new", "marker", "fragment"),
    [
        pytest.param(
            "    en: [china, chinese]",
            "    enn: [china, chinese]",
            "enn:",
            "CN: unknown key 'enn' (did you mean 'en'?)",
            id="unknown-key",
        ),
        pytest.param(
            "    en: [norway, norwegian]",
            "    en: norway",
            "en: norway",
            "NO: 'en' must be a list of names",
            id="aliases-not-a-list",
        ),
        pytest.param(
            "  CN:\n    name: China\n    en: [china, chinese]",
            "  CN: China",
            "CN: China",
            "CN: expected a mapping",
            id="entry-not-a-mapping",
        ),
        pytest.param(
            "  CN:\n    name: China\n    en: [china, chinese]\n  NO:\n    name: Norway\n    en: [norway, norwegian]",
            "  - CN\n  - NO",
            "countries:",
            "'countries' must be a mapping of code: entry",
            id="countries-a-list",
        ),
        pytest.param(
            "iso_codes: [CN, NO, US]",
            "iso_codes: CN NO US",
            "iso_codes:",
            "'iso_codes' must be a list of codes",
            id="iso-codes-not-a-list",
        ),
        pytest.param(
            "iso_codes: [CN, NO, US]",
            "iso_codes: [CN, NO, US]\niso: [EU]",
            "iso:",
            "unknown key 'iso' (expected countries, iso_codes)",
            id="unknown-section",
        ),
    ],
)
def test_countries_defect_names_countries_yaml_and_line(
    tmp_path: Path, old: str, new: str, marker: str, fragment: str
) -> None:
    folder = rules_folder(tmp_path)
    text = mutate(MINI_COUNTRIES, old, new)
    (folder / "countries.yaml").write_text(text, "utf-8")
    ruleset, problems = check_rules(folder)
    assert ruleset is None and len(problems) == 1
    problem = assert_problem(problems, folder / "countries.yaml", line_at(text, marker), fragment)
    result = check_cli(folder)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [str(problem)]
    assert_no_traceback(result)


def test_the_small_country_list_is_valid_and_no_is_norway(tmp_path: Path) -> None:
    folder = rules_folder(tmp_path)
    (folder / "countries.yaml").write_text(clean(MINI_COUNTRIES), "utf-8")
    ruleset, problems = check_rules(folder)
    assert problems == [] and ruleset is not None
    assert ruleset.vocab.terms["country:NO"].name == "Norway"
    assert ruleset.vocab.iso_codes == {"CN", "NO", "US", "EU"}


# --- missing folder, missing vocabulary ----------------------------------------------------------


def test_missing_rules_folder(tmp_path: Path) -> None:
    folder = tmp_path / "no-such-rules"
    ruleset, problems = check_rules(folder)
    assert ruleset is None
    assert [str(p) for p in problems] == [f"{folder}: rules folder not found"]
    assert problems[0].line is None

    result = check_cli(folder)
    assert result.exit_code == 1
    assert f"{folder}: rules folder not found" in result.stdout
    assert_no_traceback(result)
    result = examples_cli(folder)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {folder}: rules folder not found"
    assert_no_traceback(result)


def test_missing_minerals_yaml(tmp_path: Path) -> None:
    folder = rules_folder(tmp_path, {"test.yaml": clean(VALID)})
    (folder / "minerals.yaml").unlink()
    ruleset, problems = check_rules(folder)
    assert ruleset is None
    assert [str(p) for p in problems] == [f"{folder / 'minerals.yaml'}: the mineral vocabulary is missing"]

    for result in (check_cli(folder), examples_cli(folder)):
        assert result.exit_code != 0
        assert "minerals.yaml: the mineral vocabulary is missing" in result.output
        assert_no_traceback(result)


# --- the shipped rules, and `rules test` -------------------------------------------------------


def test_the_real_rules_check_clean_and_their_examples_pass() -> None:
    ruleset, problems = check_rules(REPO_RULES)
    assert problems == []
    assert ruleset is not None and ruleset.rules
    assert all(r.ok for r in run_tests(ruleset))

    result = check_cli(REPO_RULES)
    assert result.exit_code == 0, result.output
    summary = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(rf".*: {len(ruleset.rules)} rules in \d+ files; vocabulary: .*: OK", summary)

    result = examples_cli(REPO_RULES)
    assert result.exit_code == 0, result.output
    m = re.fullmatch(r"(\d+) examples, (\d+) ok, 0 failing", result.stdout.strip())
    assert m and int(m.group(1)) > 0 and m.group(1) == m.group(2)


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        pytest.param(
            "          effective: 2030-06-01\n",
            "          effective: 2030-06-02\n",
            "effective: expected 2030-06-02, got 2030-06-01",
            id="wrong-date",
        ),
        pytest.param(
            "          expires: 2031-05-01\n",
            "          expires: null\n",
            "expires: expected null, got 2031-05-01",
            id="expected-none",
        ),
        pytest.param(
            "          action: suspension\n",
            "          action: lift\n",
            "action: expected 'lift', got 'suspension'",
            id="wrong-action",
        ),
    ],
)
def test_a_failing_example_prints_what_it_expected_as_the_rule_file_writes_it(
    tmp_path: Path, old: str, new: str, problem: str
) -> None:
    folder = tmp_path / "rules"
    shutil.copytree(REPO_RULES, folder)
    path = folder / "cn-mofcom.yaml"
    text = path.read_text("utf-8")
    test_title = "      - title: 商务部 海关总署公告2030年第9号"
    assert text.count(old) == 1
    text = text.replace(old, new)
    path.write_text(text, "utf-8")

    assert check_cli(folder).exit_code == 0  # well-formed: only the example is wrong
    result = examples_cli(folder)
    assert result.exit_code == 1
    failing = [line for line in result.stdout.splitlines() if not re.fullmatch(r"\d+ examples, .*", line)]
    assert failing == [f"{path}:{line_at(text, test_title)}: cn-mofcom-suspension: {problem}"]
    assert "datetime" not in result.output
    assert re.search(r"\d+ examples, \d+ ok, 1 failing", result.stdout)


def test_an_example_that_gets_no_event_fails(tmp_path: Path) -> None:
    text = mutate(VALID, "        kind: mofcom", "        kind: rss")
    folder = rules_folder(tmp_path, {"test.yaml": text})
    result = examples_cli(folder)
    assert result.exit_code == 1
    line = line_at(text, "- title: 关于对镓")
    assert (
        f"{folder / 'test.yaml'}:{line}: cn-test-gallium: expected an event from 'cn-test-gallium', got none"
        in (result.stdout)
    )


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        pytest.param(["nosuch"], "no rule 'nosuch' in {folder}", id="no-close-name"),
        pytest.param(
            ["cn-test-galium"],
            "no rule 'cn-test-galium' in {folder} (did you mean 'cn-test-gallium'?)",
            id="typo",
        ),
        pytest.param(
            ["cn-test-gallium", "cn-test-gallum"],
            "no rule 'cn-test-gallum' in {folder} (did you mean 'cn-test-gallium'?)",
            id="one-of-two-unknown",
        ),
    ],
)
def test_rules_test_of_a_rule_that_does_not_exist_is_one_line(
    tmp_path: Path, rules: list[str], message: str
) -> None:
    folder = rules_folder(tmp_path, {"test.yaml": clean(VALID)})
    args = [arg for rid in rules for arg in ("--rule", rid)]
    result = run("--rules", str(folder), "rules", "test", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"error: {message.format(folder=folder)}\n"
    assert run("--rules", str(folder), "rules", "test", "--rule", "cn-test-gallium").exit_code == 0


# --- nothing in a rule file is code --------------------------------------------------------------


def test_a_keyword_that_looks_like_python_is_a_literal(tmp_path: Path) -> None:
    code = "__import__('os').system('touch pwned')"
    text = mutate(VALID, "        any: [出口管制]", f'        any: ["{code}"]').replace(
        "      - title: 关于对镓相关物项实施出口管制的公告", f'      - title: "镓 {code}"'
    )
    folder = rules_folder(tmp_path, {"code.yaml": text})
    ruleset, problems = check_rules(folder)
    assert problems == []
    assert ruleset is not None
    assert ruleset.rules[0].keywords["title"].any == (code,)
    assert all(r.ok for r in run_tests(ruleset))  # matched as text
    assert ruleset.classify(DocView(title="__import__ os system")) == []
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    "tagged",
    [
        "!!python/object/apply:os.system ['touch pwned']",
        "!!python/name:os.system",
        "!!python/object/new:subprocess.Popen [['touch', 'pwned']]",
    ],
)
def test_a_python_tag_is_an_error_and_runs_nothing(tmp_path: Path, tagged: str) -> None:
    text = mutate(VALID, "        any: [出口管制]", f"        any:\n          - {tagged}")
    folder = rules_folder(tmp_path, {"evil.yaml": text})
    _, problems = check_rules(folder)
    assert len(problems) == 1
    assert_problem(
        problems,
        folder / "evil.yaml",
        line_at(text, tagged),
        "YAML syntax: could not determine a constructor for the tag 'tag:yaml.org,2002:python/",
    )
    result = check_cli(folder)
    assert result.exit_code == 1
    assert_no_traceback(result)
    assert not (tmp_path / "pwned").exists()


def test_a_python_tag_in_the_vocabulary_is_an_error_and_runs_nothing(tmp_path: Path) -> None:
    folder = rules_folder(tmp_path)
    text = mutate(
        MINI_VOCAB, "    name: Gallium", "    name: !!python/object/apply:os.system ['touch pwned']"
    )
    (folder / "minerals.yaml").write_text(text, "utf-8")
    _, problems = check_rules(folder)
    assert len(problems) == 1
    assert_problem(problems, folder / "minerals.yaml", line_at(text, "python/object"), "could not determine")
    assert not (tmp_path / "pwned").exists()


# --- rules/README.md documents every key the parser accepts -------------------------------------


def documented_keys(readme: str) -> dict[str, set[str]]:
    """The `| in | key | meaning |` rows of the README's "Every key" table, as {in: {keys}}."""
    section = readme.split("\n## Every key\n", 1)[1].split("\n## ", 1)[0]
    out: dict[str, set[str]] = {}
    for where, key in re.findall(r"^\| ([a-z_ ]+?) \| `([a-z_]+)` \|", section, re.M):
        out.setdefault(where, set()).add(key)
    return out


def test_the_rules_readme_documents_every_key_the_parser_accepts_and_no_other() -> None:
    readme = (default_rules_dir() / "README.md").read_text("utf-8")
    parser = {
        "rule file": rulefile.FILE_KEYS,
        "rule": rulefile.RULE_KEYS,
        "match": rulefile.MATCH_KEYS,
        "condition": rulefile.COND_KEYS,
        "emit": rulefile.EMIT_KEYS,
        "date": rulefile.DATE_KEYS,
        "refers_to": rulefile.REF_KEYS,
        "amount": rulefile.AMOUNT_KEYS,
        "recipient": rulefile.RECIPIENT_KEYS,
        "test": rulefile.TEST_KEYS,
        "expect": rulefile.EXPECT_KEYS,
        "mineral entry": _ENTRY_KEYS,
        "country entry": _COUNTRY_KEYS,
    }
    documented = documented_keys(readme)
    for where, keys in parser.items():
        assert documented.get(where, set()) == keys, where
    assert set(documented) == set(parser)
    # and the README says how they behave
    for fact in (
        "first rule that matches wins",
        "Keywords are case-insensitive",
        "are case-sensitive",
        'a list means "contains"',
        "`[]`: none",
        "(default `2025-01-01`)",
        "`tracker rules explain DOC_ID`",
    ):
        assert fact in readme, fact


def test_the_key_table_reader_sees_a_missing_or_an_extra_row() -> None:
    table = "\n## Every key\n\n| in | key | meaning |\n|---|---|---|\n| rule | `id` | x |\n| rule | `title` | y |\n"
    assert documented_keys(table) == {"rule": {"id", "title"}}
    assert documented_keys(table.replace("| rule | `title` | y |\n", "")) == {"rule": {"id"}}


def _lines(value: object) -> object:
    """`value` with the line of every mapping, key, sequence and string it holds."""
    if isinstance(value, dict):
        keys = getattr(value, "key_lines", {})
        return (line_of(value), {k: (keys.get(k), _lines(v)) for k, v in value.items()})
    if isinstance(value, list):
        return (line_of(value), [_lines(v) for v in value])
    return (line_of(value), value)


def test_libyaml_reads_every_shipped_file_as_the_python_parser_does() -> None:
    """The fast parser (libyaml) and the pure-Python one give the same values and the same lines."""
    assert yaml.__with_libyaml__ and issubclass(yamlfile._FastLoader, yaml.CSafeLoader)
    files = sorted(REPO_RULES.glob("*.yaml"))
    assert len(files) >= 5
    for path in files:
        text = path.read_text("utf-8")
        slow = yamlfile._Loader(text)
        try:
            expected = slow.get_single_data()
        finally:
            slow.dispose()
        assert _lines(yamlfile.load_yaml_text(text, str(path))) == _lines(expected), path.name
