"""The maintainer's view of the stored documents: what each is and what the rules made of it."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import click

from tracker.cli import Context, cli, parse_date, wide_option
from tracker.safe import json_text, terminal

if TYPE_CHECKING:
    from tracker.catalog import StoredDocument


@cli.command()
@click.option(
    "--source", "sources", multiple=True, metavar="S", help="Only documents a source carried (repeatable)."
)
@click.option("--unclassified", is_flag=True, help="Only documents the rules made no event of.")
@click.option("--search", metavar="TEXT", help="Full text over titles and texts (Chinese too).")
@click.option(
    "--since",
    metavar="DATE",
    help="Issued on or after DATE: 2025, 2025-04, 2025-04-04, or back from today: 30d, 6w, 3m, 1y.",
)
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="At most N documents (newest first).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--text", "with_text", is_flag=True, help="Also show each document's text.")
@wide_option
@click.pass_obj
def documents(
    obj: Context,
    sources: tuple[str, ...],
    unclassified: bool,
    search: str | None,
    since: str | None,
    limit: int | None,
    fmt: str,
    with_text: bool,
    wide: bool,
) -> None:
    """The stored documents, newest first, with the events the rules made of each.

    Example: tracker documents --unclassified --source mofcom
    """
    from tracker.catalog import list_documents
    from tracker.store import Store

    for s in sources:
        obj.config.source(s)
    lo = parse_date(since, option="--since", today=obj.today())
    with Store(obj.config.db_path) as store:
        docs = list_documents(
            store,
            sources=sources,
            unclassified=unclassified,
            search=search,
            since=lo,
            limit=limit,
            text=with_text,
        )
        if fmt == "json":
            for chunk in json_array(d.as_dict(text=with_text) for d in docs):
                click.echo(json_text(chunk), nl=False)
            return
        from tracker.render import table_columns

        shown = 0
        columns = table_columns(wide=wide)
        for doc in docs:
            if not shown:
                click.echo(f"{'id':>5} {'issued':<10} {'document':<18} {'sources':<26} {'events':<18} title")
            click.echo(document_line(doc, columns))
            if with_text and doc.text:
                click.echo(textwrap.indent(terminal(doc.text.rstrip(), lines=True), " " * 6))
            shown += 1
        if not shown:
            click.echo("no documents match")


def document_line(doc: StoredDocument, columns: int | None = None) -> str:
    """One document as a table line: id, date of issue, number, sources, event actions, title; cut
    to fit `columns` (render.table_columns), whole when None."""
    from tracker.render import cell, last_cell

    # sources and actions are what a maintainer looks for: never cut, at worst they push the title on
    t = terminal
    actions = ",".join(e.action for e in doc.events) or "-"
    head = (
        f"{doc.id:>5} {t(doc.published or '-'):<10} {cell(t(doc.doc_number or '-'), 18, columns)} "
        f"{t(','.join(doc.sources)) or '-':<26} {t(actions):<18} "
    )
    return last_cell(head, t(doc.title), columns)


def json_array(items: Iterable[dict[str, Any]]) -> Iterator[str]:
    """A JSON array laid out as `json.dumps(..., indent=2)` lays it out, written one item at a time
    (a large database never sits in memory)."""
    first = True
    for item in items:
        # strings escape their newlines, so every newline here is layout: indent it one level
        body = json.dumps(item, ensure_ascii=False, indent=2).replace("\n", "\n  ")
        yield ("[\n  " if first else ",\n  ") + body
        first = False
    yield "[]\n" if first else "\n]\n"
