"""Commands over the rules: rules check / test / eval / explain, and reclassify."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from tracker.cli import EXIT_FAILED, Context, cli, clip
from tracker.safe import json_text, terminal
from tracker.wording import plural


@cli.group()
def rules() -> None:
    """Check, test, score and explain the rule files.

    Example: tracker rules check
    """


@rules.command("check")
@click.pass_obj
def rules_check(obj: Context) -> None:
    """Validate every rule file and the vocabulary; print each problem as file:line: message.
    A rule's `sources:` must name sources of the config in use.

    Example: tracker --rules ./rules rules check
    """
    from tracker.rulefile import check_rules, rule_files

    ruleset, problems = check_rules(obj.rules_path, sources=list(obj.config.sources))
    for p in problems:
        click.echo(str(p))
    if problems:
        click.echo(f"{plural(len(problems), 'problem')} in {obj.rules_path}", err=True)
        sys.exit(EXIT_FAILED)
    assert ruleset is not None
    v = ruleset.vocab
    counts = {t: len(v.of_type(t)) for t in ("mineral", "group", "item", "country")}
    click.echo(
        f"{obj.rules_path}: {plural(len(ruleset.rules), 'rule')} in "
        f"{plural(len(rule_files(obj.rules_path)), 'file')}; vocabulary: {plural(counts['mineral'], 'mineral')}, "
        f"{plural(counts['group'], 'group')}, {plural(counts['item'], 'item class', 'item classes')}, "
        f"{plural(counts['country'], 'country', 'countries')}: OK"
    )


@rules.command("test")
@click.option("--rule", "only", multiple=True, metavar="ID", help="Only this rule's examples (repeatable).")
@click.pass_obj
def rules_test(obj: Context, only: tuple[str, ...]) -> None:
    """Run the examples embedded in every rule and report those that fail.

    Example: tracker rules test --rule cn-mofcom-suspension
    """
    from tracker.rulefile import load_rules, run_tests

    results = run_tests(load_rules(obj.rules_path), only)
    for r in results:
        if not r.ok:
            click.echo(f"{r.where}: {r.rule.id}: {'; '.join(r.problems)}")
    failed = sum(not r.ok for r in results)
    click.echo(f"{plural(len(results), 'example')}, {len(results) - failed} ok, {failed} failing")
    if failed or not results:
        sys.exit(EXIT_FAILED)


@rules.command("explain")
@click.argument("doc_id", type=int, required=False)
@click.option(
    "--text",
    "file",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Explain the documents of a local file instead (read as `ingest` reads it; not stored).",
)
@click.option("--source", metavar="S", help="The configured source whose parser reads --text FILE.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_obj
def rules_explain(obj: Context, doc_id: int | None, file: str | None, source: str | None, fmt: str) -> None:
    """Why a document did or did not become an event: every rule in order with each condition
    held (✓) or not (✗) and the value that decided, then the event the first match made.

    DOC_ID is a stored document's id (`tracker documents` lists them). --format json gives a list
    with one object per document.

    Example: tracker rules explain --text saved/2025-70.html --source mofcom
    """
    from tracker.explain import explain_file, explain_stored
    from tracker.rulefile import load_rules

    if (doc_id is None) == (file is None):
        raise click.UsageError("give a DOC_ID, or --text FILE --source S")
    if (file is None) != (source is None):
        raise click.UsageError("--text FILE and --source S go together")
    ruleset = load_rules(obj.rules_path)
    if file is not None and source is not None:
        explanations = explain_file(ruleset, obj.config, source, file)
    else:
        assert doc_id is not None
        explanations = [explain_stored(ruleset, obj.config.db_path, doc_id)]
    if fmt == "json":
        dumped = json.dumps([e.as_dict() for e in explanations], ensure_ascii=False, indent=2)
        click.echo(json_text(dumped))
        return
    for i, e in enumerate(explanations):
        click.echo(("\n" if i else "") + terminal("\n".join(e.lines()), lines=True))


@rules.command("eval")
@click.argument("expected", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--site",
    type=click.Path(exists=True, file_okay=False),
    help="Sample site folder (default: the bundled copy).",
)
@click.pass_obj
def rules_eval(obj: Context, expected: str, site: str | None) -> None:
    """Fetch the sample sites on 127.0.0.1, classify them, and score against EXPECTED.json.

    Exit status 1 unless every expected event is found, no forbidden event appears on the
    'absent' documents and every status line is right.

    Example: tracker rules eval ../shared/samples/expected.json
    """
    from tracker.demo.evaluate import evaluate

    report = evaluate(expected, obj.rules_path, site)
    sections = (("expected events", report.expected), ("absent", report.absent), ("status", report.status))
    for title, lines in sections:
        click.echo(f"== {title}")
        for line in lines:
            mark = "ok  " if line.ok else "MISS"
            click.echo(
                f"{mark} {line.what}" + (f"\n       {line.detail}" if line.detail and not line.ok else "")
            )
    if report.unexpected:
        click.echo("== events not in the expected set")
        for e in report.unexpected:
            click.echo(f"     {e['action']} {e['jurisdiction']} {e['announced']} {clip(e['title'], 70)}")
    click.echo(
        f"precision {report.precision:.2f} ({report.matched_produced}/{report.produced} events), "
        f"recall {report.recall:.2f} ({sum(x.ok for x in report.expected)}/{len(report.expected)} expected), "
        f"absent {sum(x.ok for x in report.absent)}/{len(report.absent)}, "
        f"status {sum(x.ok for x in report.status)}/{len(report.status)}"
    )
    if not report.ok:
        sys.exit(EXIT_FAILED)


@cli.command()
@click.option("--dry-run", is_flag=True, help="Show what would change; keep nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
@click.pass_obj
def reclassify(obj: Context, dry_run: bool, as_json: bool) -> None:
    """Re-apply the current rules to every stored document and show the events that appear,
    disappear or change.

    Example: tracker reclassify --dry-run
    """
    from tracker.events import reclassify as do_reclassify

    problems: list[str] = []
    with obj.tracker.store() as store:
        changes = do_reclassify(store, obj.tracker.classifier, dry_run=dry_run, problems=problems)
    for problem in problems:
        click.echo(f"warning: left unclassified: {problem}", err=True)
    if as_json:
        click.echo(
            json.dumps(
                [{"change": c.kind, "event": c.event, "fields": c.fields} for c in changes],
                ensure_ascii=False,
                indent=2,
                default=str,
            )
        )
        return
    for c in changes:
        e = c.event
        sign = {"appear": "+", "disappear": "-", "change": "~"}[c.kind]
        click.echo(
            f"{sign} {e['id']} {e['action']:<16} {e['jurisdiction']} {e['announced'] or '?':<10} "
            f"{_minerals(e)} {clip(e['title'], 60)}"
        )
        for field, (old, new) in c.fields.items():
            click.echo(f"      {field}: {old} -> {new}")
    n = {k: sum(c.kind == k for c in changes) for k in ("appear", "disappear", "change")}
    verb = "would" if dry_run else "did"
    click.echo(
        f"{plural(n['appear'], 'event')} {verb} appear, {n['disappear']} {verb} disappear, {n['change']} {verb} change"
        + (" (dry run: nothing kept)" if dry_run else "")
    )


def _minerals(e: dict[str, Any]) -> str:
    ms = json.loads(e["minerals"]) if isinstance(e["minerals"], str) else e["minerals"]
    return "[" + ", ".join(ms[:6]) + (", …" if len(ms) > 6 else "") + "]"
