"""A config-only source's numbers and guids identify a notice only within the source (or its
`authority`) and year; built-in numbers stay global; migration 0008 splits what the old bare keys
merged. Real HTTP servers on 127.0.0.1, real SQLite files, real fetches."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_config
from tracker.demo.server import SiteServer, site_root
from tracker.models import Document, RunStats, sha256
from tracker.pipeline import fetch
from tracker.store import Store
from tracker.store.migrations import migrations

RULES = Path(__file__).parent.parent / "rules"

# one notice: (file name, title, date on the list or "", text of its page)
Notice = tuple[str, str, str, str]


def write_list(root: Path, folder: str, notices: list[Notice]) -> None:
    """A ministry's list page at /<folder>/list.html and a page per notice."""
    (root / folder).mkdir(parents=True, exist_ok=True)
    rows = "".join(
        f'<li><a href="/{folder}/{name}">{title}</a><span class="date">{day}</span></li>'
        for name, title, day, _ in notices
    )
    (root / folder / "list.html").write_text(
        f'<html><body><ul class="notices">{rows}</ul></body></html>', "utf-8"
    )
    for name, _, _, text in notices:
        (root / folder / name).write_text(
            f'<html><body><nav>Home</nav><div class="article"><p>{text}</p></div></body></html>', "utf-8"
        )


def html_list(url: str, **extra: Any) -> dict[str, Any]:
    """An html-list source over `write_list` pages."""
    return {
        "kind": "html-list",
        "url": url,
        "item": "ul.notices li",
        "title": "a",
        "link": "a",
        "date": "span.date",
        "body": "div.article",
        "number": r"No\. (\d+)",
        "language": "en",
        **extra,
    }


def documents(db_path: Path) -> list[dict[str, Any]]:
    with Store(db_path) as store:
        return list(store.documents())


def number_keys(db_path: Path) -> dict[str, int]:
    with Store(db_path) as store:
        return {
            r[0]: r[1]
            for r in store.db.execute(
                "SELECT key, document_id FROM document_keys WHERE key NOT LIKE 'guid:%'"
            )
        }


def ministry_rules(tmp_path: Path) -> Path:
    """The shipped vocabulary and one rule that classifies the ministries' notices."""
    rules = tmp_path / "rules"
    rules.mkdir()
    for name in ("minerals.yaml", "countries.yaml"):
        shutil.copy(RULES / name, rules / name)
    (rules / "ministries.yaml").write_text(
        """rules:
  - id: ministry-export-control
    title: A ministry puts minerals under export control
    severity: high
    match:
      kinds: [html-list]
      title:
        any: [export control]
      minerals: required
    emit:
      action: new_control
      jurisdiction: AU
    tests:
      - title: Notice No. 9 on export control of gallium
        kind: html-list
        published: 2026-03-02
        expect: {action: new_control, jurisdiction: AU, minerals: [gallium]}
""",
        "utf-8",
    )
    return rules


# --- fetching ------------------------------------------------------------------------------------


def test_two_ministries_notices_of_the_same_number_are_two_documents_and_two_events(
    tmp_path: Path, db_path: Path
) -> None:
    root = tmp_path / "site"
    write_list(
        root, "mines", [("9.html", "Notice No. 9 on export control of gallium", "2026-03-02", "Gallium.")]
    )
    write_list(
        root, "trade", [("9.html", "Notice No. 9 on export control of germanium", "2026-03-05", "Ge.")]
    )
    with SiteServer(root) as srv:
        config = make_config(
            db_path,
            {
                "mines": html_list(f"{srv.base_url}/mines/list.html"),
                "trade": html_list(f"{srv.base_url}/trade/list.html"),
            },
        )
        results = fetch(dataclasses.replace(config, rules_dir=ministry_rules(tmp_path)))
    assert all(s.status == "ok" for s in results), [s.error for s in results]
    assert [s.new_documents for s in results] == [1, 1]
    docs = documents(db_path)
    assert len(docs) == 2
    assert sorted((d["sources"], d["doc_number"], len(d["urls"])) for d in docs) == [
        (["mines"], "9", 1),
        (["trade"], "9", 1),
    ]
    assert set(number_keys(db_path)) == {"no:mines|9|2026", "no:trade|9|2026"}
    with Store(db_path) as store:
        events = list(store.db.query("SELECT doc_number, minerals FROM events ORDER BY minerals"))
    # merged on "9", the two notices would have made one event with both minerals
    assert events == [
        {"doc_number": "9", "minerals": '["gallium"]'},
        {"doc_number": "9", "minerals": '["germanium"]'},
    ]


@pytest.mark.parametrize(
    ("number", "titles", "dates", "keys"),
    [
        # the year comes from the date of issue on the list
        (
            r"No\. (\d+)",
            ("Notice No. 9", "Notice No. 9"),
            ("2026-04-01", "2027-04-01"),
            {"no:mines|9|2026", "no:mines|9|2027"},
        ),
        # the number holds its year: no date needed
        (
            r"No\. (\d+ of \d{4})",
            ("Notice No. 9 of 2026", "Notice No. 9 of 2027"),
            ("", ""),
            {"no:mines|9 of 2026", "no:mines|9 of 2027"},
        ),
    ],
    ids=["year-of-issue", "year-in-number"],
)
def test_next_years_notice_of_the_same_number_is_stored_as_new(
    tmp_path: Path,
    db_path: Path,
    number: str,
    titles: tuple[str, str],
    dates: tuple[str, str],
    keys: set[str],
) -> None:
    root = tmp_path / "site"
    old: Notice = ("2026-9.html", titles[0], dates[0], "The notice of 2026.")
    new: Notice = ("2027-9.html", titles[1], dates[1], "The notice of 2027.")
    write_list(root, "mines", [old])
    with SiteServer(root) as srv:
        config = make_config(db_path, {"mines": html_list(f"{srv.base_url}/mines/list.html", number=number)})
        [first] = fetch(config)
        assert first.status == "ok", first.error
        assert first.new_documents == 1
        write_list(root, "mines", [new, old])
        [second] = fetch(config)
    assert second.status == "ok", second.error
    assert second.new_documents == 1
    docs = documents(db_path)
    assert sorted(d["text"] for d in docs) == ["The notice of 2026.", "The notice of 2027."]
    assert all(len(d["urls"]) == 1 for d in docs)
    assert set(number_keys(db_path)) == keys


def test_numbers_without_year_or_date_leave_identity_to_the_url(tmp_path: Path, db_path: Path) -> None:
    root = tmp_path / "site"
    write_list(
        root, "mines", [("a.html", "Notice No. 9", "", "First."), ("b.html", "Notice No. 9", "", "Second.")]
    )
    with SiteServer(root) as srv:
        config = make_config(db_path, {"mines": html_list(f"{srv.base_url}/mines/list.html")})
        [stats] = fetch(config)
    assert stats.new_documents == 2
    assert sorted(d["text"] for d in documents(db_path)) == ["First.", "Second."]
    assert number_keys(db_path) == {}  # "9" alone names no notice


def test_sources_naming_the_same_authority_merge_its_notice(tmp_path: Path, db_path: Path) -> None:
    root = tmp_path / "site"
    notice = "Notice No. 9 on cobalt"
    write_list(root, "press", [("n9.html", notice, "2026-03-02", "Cobalt notice.")])
    write_list(root, "gazette", [("9.html", notice, "2026-03-03", "Cobalt notice, as gazetted.")])
    with SiteServer(root) as srv:
        config = make_config(
            db_path,
            {
                "press": html_list(f"{srv.base_url}/press/list.html", authority="Ministry of Mines"),
                "gazette": html_list(f"{srv.base_url}/gazette/list.html", authority="Ministry of Mines"),
            },
            fetch={"workers": 1},
        )
        results = fetch(config)
    assert all(s.status == "ok" for s in results), [s.error for s in results]
    [doc] = documents(db_path)
    assert doc["sources"] == ["gazette", "press"]
    assert len(doc["urls"]) == 2
    assert set(number_keys(db_path)) == {"no:Ministry of Mines|9|2026"}
    with Store(db_path) as store:  # both texts kept
        assert len(store.versions(doc["id"])) == 2


def test_mofcom_numbers_still_merge_across_two_hosts(tmp_path: Path, db_path: Path) -> None:
    root = tmp_path / "site"
    (root / "art").mkdir(parents=True)
    article = site_root() / "mofcom/zwgk/zcfb/art/2023/art_4c332aac5913fbf1a8fdee22623aa328.html"
    (root / "art/a.html").write_bytes(article.read_bytes())
    (root / "index.html").write_text(
        '<html><body><ul><li><a href="/art/a.html" title="商务部 海关总署公告2023年第23号">x</a>'
        "<span>[2023-07-03]</span></li></ul></body></html>",
        "utf-8",
    )
    with SiteServer(root) as official, SiteServer(root) as mirror:
        config = make_config(
            db_path,
            {
                "mofcom": {"url": f"{official.base_url}/index.html"},
                "exportcontrol": {"kind": "mofcom", "url": f"{mirror.base_url}/index.html"},
            },
            fetch={"workers": 1},
        )
        results = fetch(config)
    assert all(s.status == "ok" for s in results), [s.error for s in results]
    [doc] = documents(db_path)
    assert doc["doc_number"] == "MOFCOM 2023-23"
    assert doc["sources"] == ["exportcontrol", "mofcom"]
    assert len(doc["urls"]) == 2
    assert number_keys(db_path) == {"MOFCOM 2023-23": doc["id"]}  # the global key, unchanged


def feed(items: list[tuple[str, str, str]]) -> str:
    """An RSS feed of (guid, title, link) items."""
    body = "".join(
        f'<item><title>{title}</title><link>{link}</link><guid isPermaLink="false">{guid}</guid>'
        f"<pubDate>Mon, 02 Mar 2026 09:00:00 +0000</pubDate><description>{title}.</description></item>"
        for guid, title, link in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{body}</channel></rss>'


def test_plain_integer_guids_of_two_feeds_do_not_merge_but_url_guids_do(
    tmp_path: Path, db_path: Path
) -> None:
    root = tmp_path / "site"
    root.mkdir()
    shared = "https://news.example.gov/posts/critical-minerals"
    (root / "a.xml").write_text(
        feed([("123", "Ministry A item", "https://a.example.gov/1"), (shared, "Shared post", shared)]),
        "utf-8",
    )
    (root / "b.xml").write_text(
        feed([("123", "Ministry B item", "https://b.example.gov/1"), (shared, "Shared post", shared)]),
        "utf-8",
    )
    with SiteServer(root) as srv:
        config = make_config(
            db_path,
            {
                "feed_a": {"kind": "rss", "url": f"{srv.base_url}/a.xml"},
                "feed_b": {"kind": "rss", "url": f"{srv.base_url}/b.xml"},
            },
            fetch={"workers": 1},
        )
        results = fetch(config)
    assert all(s.status == "ok" for s in results), [s.error for s in results]
    docs = {d["title"]: d for d in documents(db_path)}
    assert sorted(docs) == ["Ministry A item", "Ministry B item", "Shared post"]
    assert docs["Ministry A item"]["sources"] == ["feed_a"]
    assert docs["Ministry B item"]["sources"] == ["feed_b"]
    assert docs["Shared post"]["sources"] == ["feed_a", "feed_b"]  # a URL guid names its publisher
    with Store(db_path) as store:
        keys = {r[0] for r in store.db.execute("SELECT key FROM document_keys")}
    assert keys == {"guid:feed_a|123", "guid:feed_b|123", f"guid:{shared}"}


# --- migration 0008 ------------------------------------------------------------------------------

BEFORE_0008 = "0008_source_scoped_numbers"


class StoreBefore0008(Store):
    """A real Store whose schema stops before 0008: the database of the previous release."""

    def _setup(self) -> None:
        self.db.execute("PRAGMA journal_mode = wal")
        with self.write():
            migrations.apply(self.db, stop_before=BEFORE_0008)


MINES: list[Notice] = [
    ("2026-9.html", "Notice No. 9 on gallium", "2026-03-02", "Mines notice of 2026 on gallium."),
    ("2027-9.html", "Notice No. 9 on antimony", "2027-03-02", "Mines notice of 2027 on antimony."),
    ("2026-10.html", "Notice No. 10 on cobalt", "2026-04-01", "Mines notice No. 10 on cobalt."),
]
TRADE: list[Notice] = [
    ("9.html", "Notice No. 9 on germanium", "2026-05-01", "Trade notice on germanium, corrected."),
    # a re-post of the mines notice, word for word, the next year (within a year from today: a
    # later date of issue is refused as implausible)
    ("repost.html", MINES[0][1], "2027-01-10", MINES[0][3]),
]
TRADE_FIRST_TEXT = "Trade notice on germanium."


def old_delivery(base: str, source: str, folder: str, notice: Notice, text: str | None = None) -> Document:
    """What an html-list source delivered before 0008: a bare number, no scope."""
    name, title, day, page_text = notice
    number = "10" if "No. 10" in title else "9"
    return Document(
        source=source,
        url=f"{base}/{folder}/{name}",
        title=title,
        text=text or page_text,
        raw_hash=sha256(text or page_text),
        published=date.fromisoformat(day),
        language="en",
        doc_number=number,
        source_kind="html-list",
    )


def build_old_database(root: Path, db_path: Path, base: str) -> dict[str, int]:
    """Sites and a database as the previous release left them; returns the doc id per number."""
    write_list(root, "mines", MINES)
    write_list(root, "trade", TRADE)
    with StoreBefore0008(db_path) as store:
        order = [
            old_delivery(base, "mines", "mines", MINES[0]),
            old_delivery(base, "trade", "trade", TRADE[0], TRADE_FIRST_TEXT),
            old_delivery(base, "mines", "mines", MINES[1]),
            old_delivery(base, "trade", "trade", TRADE[1]),
            old_delivery(base, "trade", "trade", TRADE[0]),  # its page changed: 'updated'
            old_delivery(base, "mines", "mines", MINES[2]),
        ]
        outcomes = [store.save_document(d)[0] for d in order]
        # the bug: one '9' for two ministries and two years; the re-post kept no text of its own
        assert outcomes == ["new", "merged", "merged", "merged", "updated", "new"]
        # a MOFCOM announcement on two hosts: a right merge, which 0008 must leave alone
        for source, url in (("mofcom", "https://www.mofcom.gov.cn/a.html"), ("mirror", "https://m.gov.cn/a")):
            store.save_document(
                Document(
                    source=source,
                    url=url,
                    title="商务部公告2025年第70号",
                    text=f"正文 {source}",
                    raw_hash=sha256(url),
                    published=date(2025, 11, 7),
                    language="zh",
                    doc_number="MOFCOM 2025-70",
                    source_kind="mofcom",
                )
            )
        ids = {r[1]: r[0] for r in store.db.execute("SELECT id, doc_number FROM documents")}
        with store.write():
            for number in ("9", "10"):
                store.db.execute(
                    "INSERT INTO event_drafts(document_id, event_id, rule, draft) VALUES (?, ?, 'r', '{}')",
                    [ids[number], f"event-{number}"],
                )
            store.db.execute(
                "INSERT INTO pending_texts(url, document_id, source, first_seen) VALUES (?, ?, 'trade', 'x')",
                [f"{base}/trade/9.html", ids["9"]],
            )
        for folder, notices in (("mines", MINES), ("trade", TRADE)):
            # both lists were read completely and are unchanged since (their next GET: "not modified")
            list_url = f"{base}/{folder}/list.html"
            store.save_cache_entry(list_url, None, None, (root / folder / "list.html").read_bytes())
            for n in notices:
                store.save_cache_entry(f"{base}/{folder}/{n[0]}", None, None, b"an older page")
            run = store.start_run(folder, "fetch")
            store.finish_run(run, RunStats(source=folder, items_seen=len(notices)))
        assert BEFORE_0008 in {m.name for m in migrations.pending(store.db)}
    return ids


def all_texts(store: Store) -> set[str]:
    texts = {r[0] for r in store.db.execute("SELECT text FROM document_versions")}
    return texts | {r[0] for r in store.db.execute("SELECT text FROM documents")}


def test_migration_splits_a_merged_number_into_one_document_per_url_losing_nothing(
    tmp_path: Path, db_path: Path
) -> None:
    base = "http://127.0.0.1:8"
    ids = build_old_database(tmp_path / "site", db_path, base)
    with StoreBefore0008(db_path) as old:
        texts_before = all_texts(old)
        doc_ids_before = {r[0] for r in old.db.execute("SELECT id FROM documents")}
    assert texts_before >= {TRADE_FIRST_TEXT, MINES[0][3], MINES[1][3], TRADE[0][3]}

    with Store(db_path) as store:  # opening applies 0008
        assert all_texts(store) >= texts_before
        assert {r[0] for r in store.db.execute("SELECT id FROM documents")} >= doc_ids_before
        docs = {d["url"].removeprefix(base): d for d in store.documents()}
        nines = {u: d for u, d in docs.items() if d["doc_number"] == "9"}
        # each URL is its own document, showing that URL's last text
        assert {u: (d["urls"], d["text"]) for u, d in nines.items()} == {
            "/mines/2026-9.html": ([f"{base}/mines/2026-9.html"], MINES[0][3]),
            "/trade/9.html": ([f"{base}/trade/9.html"], TRADE[0][3]),
            "/mines/2027-9.html": ([f"{base}/mines/2027-9.html"], MINES[1][3]),
            "/trade/repost.html": ([f"{base}/trade/repost.html"], MINES[0][3]),
        }
        kept = nines["/mines/2026-9.html"]
        assert kept["id"] == ids["9"]
        # the trade page's change had overwritten the document's title, text and date: the text
        # is its own again, the date goes with the trade page, its own comes with the next fetch
        assert (kept["title"], kept["published"]) == (MINES[0][1], None)
        trade = nines["/trade/9.html"]
        assert (trade["sources"], trade["published"]) == (["trade"], "2026-05-01")
        assert nines["/mines/2027-9.html"]["published"] is None
        assert [v["text"] for v in store.versions(trade["id"])] == [TRADE_FIRST_TEXT, TRADE[0][3]]
        assert [v["version"] for v in store.versions(trade["id"])] == [1, 2]
        assert [v["url"] for v in store.versions(kept["id"])] == [f"{base}/mines/2026-9.html"]
        assert trade["meta"] == {"number_scope": "trade", "split_from": ids["9"]}
        # full text search finds each split document by its own words
        for word, url in (("antimony", "/mines/2027-9.html"), ("germanium", "/trade/9.html")):
            [hit] = [
                r[0]
                for r in store.db.execute(
                    "SELECT rowid FROM documents_fts WHERE documents_fts MATCH ?", [word]
                )
            ]
            assert hit == nines[url]["id"]
        # keys: scoped, with the year where it is known; the split ones get theirs on the next fetch
        keys = {r[0]: r[1] for r in store.db.execute("SELECT key, document_id FROM document_keys")}
        assert keys == {
            "no:trade|9|2026": trade["id"],
            "no:mines|10|2026": ids["10"],
            "MOFCOM 2025-70": ids["MOFCOM 2025-70"],
        }
        # the split document's drafts are gone (rebuilt by `tracker reclassify`), others kept
        drafts = {r[0] for r in store.db.execute("SELECT event_id FROM event_drafts")}
        assert drafts == {"event-10"}
        pending = store.db.execute("SELECT document_id FROM pending_texts").fetchone()[0]
        assert pending == trade["id"]
        cached = {r[0].removeprefix(base) for r in store.db.execute("SELECT url FROM http_cache")}
        assert cached == {"/mines/list.html", "/trade/list.html", "/mines/2026-9.html", "/mines/2026-10.html"}
        assert {s: store.source_state(s).incomplete for s in ("mines", "trade")} == {
            "mines": 1,
            "trade": 1,
        }
        # MOFCOM's two hosts stay one document
        assert len(docs["https://www.mofcom.gov.cn/a.html"]["urls"]) == 2
        counts = [
            store.db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("documents", "document_keys", "document_versions", "document_urls")
        ]

    with Store(db_path) as again:  # opening again changes nothing
        assert migrations.pending(again.db) == []
        assert [
            again.db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("documents", "document_keys", "document_versions", "document_urls")
        ] == counts


def test_next_fetch_after_the_migration_dates_the_split_documents_without_new_ones(
    tmp_path: Path, db_path: Path
) -> None:
    root = tmp_path / "site"
    root.mkdir()
    with SiteServer(root) as srv:
        ids = build_old_database(root, db_path, srv.base_url)
        config = make_config(
            db_path,
            {
                "mines": html_list(f"{srv.base_url}/mines/list.html"),
                "trade": html_list(f"{srv.base_url}/trade/list.html"),
            },
            fetch={"workers": 1},
        )
        results = fetch(config)
    assert all(s.status == "ok" for s in results), [s.error for s in results]
    # the lists were read again although unchanged; every notice is known by its URL
    assert [(s.items_seen, s.new_documents, s.updated_documents) for s in results] == [(3, 0, 0), (2, 0, 0)]
    docs = {d["url"].removeprefix(srv.base_url): d for d in documents(db_path)}
    assert len(docs) == 6
    assert {u: d["published"] for u, d in docs.items() if d["doc_number"] in ("9", "10")} == {
        "/mines/2026-9.html": "2026-03-02",
        "/mines/2027-9.html": "2027-03-02",
        "/mines/2026-10.html": "2026-04-01",
        "/trade/9.html": "2026-05-01",
        "/trade/repost.html": "2027-01-10",
    }
    keys = number_keys(db_path)
    assert keys["no:mines|9|2026"] == ids["9"]
    assert {k for k in keys if k.startswith("no:")} == {
        "no:mines|9|2026",
        "no:mines|9|2027",
        "no:mines|10|2026",
        "no:trade|9|2026",
        "no:trade|9|2027",
    }
    assert len(set(keys.values())) == len(keys)  # one key per document: no two merged again


def test_a_url_split_off_by_the_migration_stays_its_own_document_when_its_key_is_taken(
    tmp_path: Path, db_path: Path
) -> None:
    # one ministry listed one notice at two URLs in one year: the migration cannot know the second
    # URL's year, so it splits it; the next fetch brings a key the first document already holds
    root = tmp_path / "site"
    notices: list[Notice] = [
        ("a.html", "Notice No. 9 on cobalt", "2026-03-02", "Cobalt."),
        ("b.html", "Notice No. 9 on cobalt (annex)", "2026-03-09", "Cobalt, the annex."),
    ]
    with SiteServer(root) as srv:
        write_list(root, "mines", notices)
        with StoreBefore0008(db_path) as old:
            outcomes = [
                old.save_document(old_delivery(srv.base_url, "mines", "mines", n))[0] for n in notices
            ]
            assert outcomes == ["new", "merged"]
        config = make_config(db_path, {"mines": html_list(f"{srv.base_url}/mines/list.html")})
        [stats] = fetch(config)
    assert stats.status == "ok", stats.error
    assert stats.new_documents == 0
    with Store(db_path) as store:
        owners = list(
            store.db.execute("SELECT url, COUNT(DISTINCT document_id) FROM document_urls GROUP BY url")
        )
    assert [n for _, n in owners] == [1, 1]  # each URL belongs to one document, not two


def test_migration_splits_feeds_merged_on_a_bare_guid_but_not_a_federal_register_merge(
    tmp_path: Path, db_path: Path
) -> None:
    def item(source: str, url: str, guid: str, keys: list[str] | None = None) -> Document:
        return Document(
            source=source,
            url=url,
            title=f"{source} item",
            text=f"{source} text",
            raw_hash=sha256(url),
            published=date(2026, 3, 2),
            keys=keys or [f"guid:{guid}"],
            kind="feed-item",
            meta={"guid": guid},
            source_kind="rss",
        )

    fr = "https://www.federalregister.gov/d/2026-01234"
    with StoreBefore0008(db_path) as old:
        assert old.save_document(item("feed_a", "https://a.gov/1", "123"))[0] == "new"
        assert old.save_document(item("feed_b", "https://b.gov/1", "123"))[0] == "merged"
        assert old.save_document(item("fr_rss", fr, fr, ["FR 2026-01234", f"guid:{fr}"]))[0] == "new"
        assert (
            old.save_document(item("fr_mirror", fr + "?x", "77", ["FR 2026-01234", "guid:77"]))[0] == "merged"
        )
    with Store(db_path) as store:
        docs = {d["url"]: d for d in store.documents()}
        keys = {r[0]: r[1] for r in store.db.execute("SELECT key, document_id FROM document_keys")}
    assert docs["https://a.gov/1"]["text"] == "feed_a text"
    assert docs["https://b.gov/1"]["text"] == "feed_b text"
    assert docs["https://a.gov/1"]["id"] != docs["https://b.gov/1"]["id"]
    assert keys["guid:feed_a|123"] == docs["https://a.gov/1"]["id"]
    assert keys["guid:feed_b|123"] == docs["https://b.gov/1"]["id"]
    assert "guid:123" not in keys
    # one Federal Register document in two feeds is still one: its FR number is global
    assert docs[fr]["urls"] == [fr, fr + "?x"]
    assert keys["FR 2026-01234"] == keys[f"guid:{fr}"] == docs[fr]["id"]
