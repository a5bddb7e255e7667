"""`tracker init`: a starter config and a copy of the rules to edit."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from tracker.cli import cli


@cli.command()
@click.argument("folder", default=".", metavar="[DIR]", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--db",
    "db_path",
    metavar="FILE",
    help="The database the config names (default: tracker.db in the working directory).",
)
@click.option("--force", is_flag=True, help="Replace files that exist (other files are left alone).")
def init(folder: Path, db_path: str | None, force: bool) -> None:
    """Write DIR/tracker.toml (every setting, commented, with its default) and DIR/rules/ to edit.

    DIR is the current folder unless given; existing files are kept unless --force.

    Example: tracker init /etc/minerals-tracker
    """
    from tracker.starter import CONFIG_NAME, write_starter

    written = write_starter(folder, db_path=db_path, force=force)
    config = folder / CONFIG_NAME
    rules = [p.name for p in written if p.parent != folder]
    for path in written:
        if path.parent == folder:
            click.echo(f"wrote {path}")
    if rules:
        click.echo(f"wrote {folder / 'rules'}/ ({len(rules)} files: {', '.join(rules)})")
    here = folder.resolve() == Path.cwd().resolve()
    prefix = "tracker" if here else f"tracker --config {shlex.quote(str(config))}"
    click.echo(f"\nnext: edit {config} (sources, [smtp], [[recipients]]), then")
    for command, why in (
        ("rules check", "the copy of the rules is valid"),
        ("check", "each source answers as expected; stores nothing"),
        ("fetch", "the first fetch"),
    ):
        click.echo(f"  {prefix} {command:<12} # {why}")
