"""The one Jinja2 environment every reader-facing text is rendered with: the digest, the feed, the
timeline page and each measure's English line. Templates come from `[digest] templates` (a folder
overriding any of them) first, then the built-in ones; HTML and XML are autoescaped and an
undefined variable is an error."""

from __future__ import annotations

from pathlib import Path

import jinja2

from tracker.settings import Config
from tracker.shipped import shipped_dir

AUTOESCAPE = ("html", "html.j2", "xml", "xml.j2")  # select_autoescape decides by the name's ending


def default_templates_dir() -> Path:
    """The templates shipped with the tracker; `[digest] templates` names a folder overriding them."""
    return shipped_dir("templates")


def environment(config: Config) -> jinja2.Environment:
    """Templates from the override folder first, then the built-in ones; strict and escaped."""
    folders = [str(default_templates_dir())]
    if config.digest.templates:
        override = Path(config.digest.templates)
        if config.path is not None and not override.is_absolute():
            override = config.path.parent / override
        folders.insert(0, str(override))
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folders),
        autoescape=jinja2.select_autoescape(enabled_extensions=AUTOESCAPE, default_for_string=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
