"""Full-text search stems English words and keeps Chinese one character a token; a database of
the previous release keeps its index through the migration that rebuilds it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tracker.cli import cli
from tracker.models import Document, sha256
from tracker.store import Store
from tracker.store.migrations import fts_text, migrations
from tracker.timeline import fts_query

TITLE = "Framework for Securing the Supply of Critical Minerals and Rare Earths"
TEXT = "The Participants intend to support mining and processing. 商务部对镓、锗相关物项实施出口管制。"


def matches(store: Store, words: str) -> int:
    row = store.db.execute(
        "SELECT count(*) FROM documents_fts WHERE documents_fts MATCH ?", [fts_query(words)]
    ).fetchone()
    return int(row[0])


@pytest.mark.parametrize(
    ("words", "found"),
    [
        ("rare earth", True),  # the document says "Rare Earths"
        ("Rare Earths", True),
        ("critical mineral", True),
        ("securing supplies", True),  # supply / supplies, securing / secure
        ("processed", True),  # processing
        ("mined", True),  # mining
        ("镓", True),  # one Han character
        ("出口管制", True),  # a Chinese phrase, in order
        ("管制出口", False),  # the same characters out of order are not the phrase
        ("rare gallium", False),  # every word must be there
        ("earthquake", False),  # a stem is not a prefix
    ],
)
def test_search_stems_english_and_reads_chinese_by_character(db_path: Path, words: str, found: bool) -> None:
    with Store(db_path) as store:
        store.save_document(
            Document(source="s", url="http://h/1", title=TITLE, text=TEXT, raw_hash=sha256("1"))
        )
        assert (matches(store, words) == 1) is found


class _PreviousRelease(Store):
    """A real Store whose schema stops before 0011: the index of the previous release."""

    def _setup(self) -> None:
        self.db.execute("PRAGMA journal_mode = wal")
        with self.write():
            migrations.apply(self.db, stop_before="0011_stemmed_search")


def test_the_index_of_a_previous_database_is_rebuilt_stemmed_without_losing_a_row(db_path: Path) -> None:
    with _PreviousRelease(db_path) as old:
        for i in range(3):
            old.db.execute(
                "INSERT INTO documents(id, source, url, title, text, content_hash, raw_hash, first_seen,"
                " fetched_at, updated_at) VALUES (?, 's', ?, ?, ?, 'h', 'h', 'now', 'now', 'now')",
                [i + 1, f"http://h/{i}", f"{TITLE} {i}", TEXT],
            )
            old.db.execute(
                "INSERT INTO documents_fts(rowid, title, body) VALUES (?, ?, ?)",
                [i + 1, fts_text(f"{TITLE} {i}"), fts_text(TEXT)],
            )
        assert matches(old, "rare earth") == 0  # unstemmed: "earth" is not "earths"
    with Store(db_path) as store:  # opening it applies 0011
        assert matches(store, "rare earth") == 3
        assert matches(store, "镓") == 3
        rowids = [r[0] for r in store.db.execute("SELECT rowid FROM documents_fts ORDER BY rowid")]
        assert rowids == [1, 2, 3]
        sql = store.db.execute("SELECT sql FROM sqlite_master WHERE name = 'documents_fts'").fetchone()[0]
        assert "porter" in sql


def test_timeline_and_documents_find_plurals(site_db: Path) -> None:
    for args in (["timeline", "--search", "rare earth"], ["documents", "--search", "frameworks"]):
        result = CliRunner().invoke(cli, ["--db", str(site_db), *args])
        assert result.exit_code == 0, result.output
        assert "Framework" in result.output, args


@pytest.fixture
def site_db(tmp_path: Path, site: object) -> Path:
    from conftest import site_config

    from tracker.pipeline import fetch

    db = tmp_path / "site.db"
    fetch(site_config(site, db), ["whitehouse"])  # type: ignore[arg-type]
    return db
