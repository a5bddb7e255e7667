"""Alerts and digests against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import email
import shutil
import socket
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner, Result

from tracker.alerts import list_alerts, sync_alerts
from tracker.app import Tracker
from tracker.cli import cli
from tracker.config import load_config
from tracker.demo.server import site_root
from tracker.digest import send_digests
from tracker.settings import Config
from tracker.store import Alert, Store

ART = site_root() / "mofcom/zwgk/zcfb/art"
SAMPLES = [
    ART / "2023/art_4c332aac5913fbf1a8fdee22623aa328.html",  # 2023-23 gallium, germanium
    ART / "2025/art_64f9e0038defc1e5034f6a1b71e136b3.html",  # 2025-57 holmium ...
    ART / "2025/art_cb2bdfad2be4cbd918ea959b40296eaa.html",  # 2025-70 suspension to 2026-11-10
]
RULES = Path(__file__).parent.parent / "rules"


def at(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T01:00:00+00:00")


class Inbox:
    """An aiosmtpd handler that keeps what it accepts (or refuses everything)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.refuse:
            return "550 mailbox unavailable"
        msg = email.message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(msg, EmailMessage)
        msg["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(msg)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def make(
    tmp_path: Path, port: int, recipients: str = '[[recipients]]\nemail = "a@example.org"\n', extra: str = ""
) -> Config:
    cfg = tmp_path / "tracker.toml"
    cfg.write_text(
        'timezone = "Asia/Shanghai"\n'
        f'[database]\npath = "{tmp_path / "t.db"}"\n'
        "[alerts]\nmax_age_days = 0\n"
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsender = "tracker <tracker@example.org>"\ntimeout = 5.0\n'
        + extra
        + recipients,
        "utf-8",
    )
    return load_config(cfg)


def ingest(config: Config, *files: Path) -> None:
    result = CliRunner().invoke(
        cli, ["--config", str(config.path), "ingest", *map(str, files), "--source", "mofcom"]
    )
    assert result.exit_code == 0, result.output


def parts(msg: EmailMessage) -> tuple[str, str]:
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_digest_goes_out_once_with_text_and_html_parts(tmp_path: Path, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    config = make(tmp_path, port)
    ingest(config, *SAMPLES)
    [out] = send_digests(config, at("2026-10-30"))
    assert out.status == "sent" and out.alerts == 4  # 3 events and the 30-day expiry warning
    [msg] = inbox.messages
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["Message-ID"] == out.message_id and msg["Date"] and msg["To"] == "a@example.org"
    assert msg["X-Envelope-To"] == "a@example.org"
    assert msg["Subject"] == "minerals-tracker 2026-10-30: 4 changes (4 high)"
    text, html = parts(msg)
    for body in (text, html):
        assert "New export control" in body and "Suspension" in body
        assert "MOFCOM 2025-70" in body and "Holmium" in body
        assert "suspension of MOFCOM 2025-70 expires 2026-11-10, in 11 days" in body
        assert "Asia/Shanghai" in body
        assert "经批准，自即日起至2026年11月10日" in body  # the sentence that triggered the rule
    assert "2026-10-30 09:00 CST" in text  # times carry their zone
    # the same day again: nothing new, nothing sent
    assert [o.status for o in send_digests(config, at("2026-10-30"))] == ["skipped"]
    assert len(inbox.messages) == 1
    # a restart (new process, new connections) changes nothing either
    with Store(config.db_path) as store:
        assert sync_alerts(store, config, at("2026-10-30")) == []
    # the next day has no change: a short note
    [note] = send_digests(config, at("2026-10-31"))
    assert note.status == "sent" and note.alerts == 0
    assert inbox.messages[-1]["Subject"] == "minerals-tracker 2026-10-31: no changes"
    assert "No changes; all 4 sources healthy" not in parts(inbox.messages[-1])[0]  # no source ran yet
    assert "No changes; 0 of 4 sources healthy" in parts(inbox.messages[-1])[0]


def test_empty_day_can_send_nothing(tmp_path: Path, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    config = make(tmp_path, port, extra="[digest]\nsend_empty = false\n")
    assert [o.status for o in send_digests(config, at("2026-10-30"))] == ["skipped"]
    assert inbox.messages == []


def test_smtp_down_loses_nothing_and_the_next_run_sends_it(tmp_path: Path) -> None:
    port = free_port()  # nothing listens here yet
    config = make(tmp_path, port)
    ingest(config, *SAMPLES)
    result = CliRunner().invoke(
        cli, ["--config", str(config.path), "digest", "--send", "--now", "2026-10-30T01:00:00+00:00"]
    )
    assert result.exit_code == 1
    assert "a@example.org: failed" in result.output and "stay pending" in result.output
    with Store(config.db_path) as store:
        assert len(list_alerts(store, config, Tracker(config).routes.values(), pending=True)) == 4
        assert store.db.execute("SELECT status FROM digests").fetchall() == [("failed",)]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        [out] = send_digests(config, at("2026-10-30"))
    finally:
        controller.stop()
    assert out.status == "sent" and out.alerts == 4 and len(inbox.messages) == 1
    with Store(config.db_path) as store:
        assert list_alerts(store, config, Tracker(config).routes.values(), pending=True) == []


def test_a_refusing_server_leaves_alerts_pending(tmp_path: Path, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    inbox.refuse = True
    config = make(tmp_path, port)
    ingest(config, SAMPLES[0])
    [out] = send_digests(config, at("2026-10-30"))
    assert out.status == "failed" and "550" in (out.error or "")
    inbox.refuse = False
    [again] = send_digests(config, at("2026-10-30"))
    assert again.status == "sent" and again.alerts == 1


def test_missing_password_is_a_clear_failure(tmp_path: Path, smtp: tuple[Inbox, int]) -> None:
    _, port = smtp
    config = make(tmp_path, port)
    cfg = Path(str(config.path))
    cfg.write_text(
        cfg.read_text("utf-8").replace(
            "timeout = 5.0\n", 'timeout = 5.0\nusername = "bot"\npassword_env = "TRACKER_TEST_PW"\n'
        ),
        "utf-8",
    )
    config = load_config(cfg)
    ingest(config, SAMPLES[0])
    [out] = send_digests(config, at("2026-10-30"))
    assert out.status == "failed" and "$TRACKER_TEST_PW is empty" in (out.error or "")
    with Store(config.db_path) as store:
        assert len(list_alerts(store, config, Tracker(config).routes.values(), pending=True)) == 1


def test_recipients_get_only_what_their_filters_match(tmp_path: Path, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    recipients = (
        '[[recipients]]\nemail = "ga@example.org"\nminerals = ["镓"]\njurisdictions = ["CN"]\n'
        '[[recipients]]\nemail = "ree@example.org"\nminerals = ["rare-earths"]\nactions = ["suspension"]\n'
        '[[recipients]]\nemail = "us@example.org"\njurisdictions = ["US"]\nhealth = false\n'
    )
    config = make(tmp_path, port, recipients)
    ingest(config, *SAMPLES)
    outcomes = {o.recipient: o for o in send_digests(config, at("2026-10-30"))}
    assert outcomes["ga@example.org"].alerts == 1
    assert outcomes["ree@example.org"].alerts == 2  # the suspension and its expiry warning
    assert outcomes["us@example.org"].alerts == 0
    by_to = {m["X-Envelope-To"]: parts(m)[0] for m in inbox.messages}
    assert "Gallium" in by_to["ga@example.org"] and "MOFCOM 2025-70" not in by_to["ga@example.org"]
    assert "MOFCOM 2023-23" not in by_to["ree@example.org"] and "MOFCOM 2025-70" in by_to["ree@example.org"]
    assert "No changes" in by_to["us@example.org"]


def test_expiry_warnings_come_once_per_threshold(tmp_path: Path) -> None:
    config = make(tmp_path, free_port())
    ingest(config, SAMPLES[2])
    with Store(config.db_path) as store:

        def deadlines(day: str) -> list[tuple[str, int]]:
            return [
                (a.detail["field"], a.detail["threshold"])
                for a in sync_alerts(store, config, at(day))
                if a.kind == "deadline"
            ]

        assert deadlines("2026-09-01") == []  # 70 days ahead
        assert deadlines("2026-10-15") == [("expires", 30)]  # 26 days
        assert deadlines("2026-10-16") == []
        assert deadlines("2026-11-04") == [("expires", 7)]  # 6 days
        assert deadlines("2026-11-05") == []
        assert deadlines("2026-11-11") == []  # expired


def test_a_measure_taking_effect_is_warned(tmp_path: Path) -> None:
    config = make(tmp_path, free_port())
    ingest(config, SAMPLES[1])  # 2025-57, announced 2025-10-09, in force 2025-11-08
    with Store(config.db_path) as store:
        created = sync_alerts(store, config, at("2025-11-03"))
    assert [(a.detail["field"], a.detail["days"]) for a in created if a.kind == "deadline"] == [
        ("effective", 5)
    ]


def test_old_news_is_recorded_without_alerting(tmp_path: Path) -> None:
    config = make(tmp_path, free_port(), extra="")
    cfg = Path(str(config.path))
    cfg.write_text(cfg.read_text("utf-8").replace("max_age_days = 0", "max_age_days = 90"), "utf-8")
    config = load_config(cfg)
    ingest(config, SAMPLES[0], SAMPLES[2])
    with Store(config.db_path) as store:
        sync_alerts(store, config, at("2026-10-30"))
        kinds = [
            (a.alert.kind, a.alert.title[:20])
            for a in list_alerts(store, config, Tracker(config).routes.values())
        ]
    # the 2023 and 2025 announcements are history; the expiry 11 days ahead is news
    assert [k for k, _ in kinds] == ["deadline"]


def test_a_substantive_change_gives_one_updated_alert(tmp_path: Path) -> None:
    config = make(tmp_path, free_port())
    ingest(config, SAMPLES[1], SAMPLES[2])
    with Store(config.db_path) as store:
        sync_alerts(store, config, at("2026-10-30"))
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    cn = rules / "cn-mofcom.yaml"
    cn.write_text(
        cn.read_text("utf-8").replace(
            "          - '至(?P<date>\\d{4}年\\d{1,2}月\\d{1,2}日)'\n",
            "          - '不会出现(?P<date>\\d{4}年)'\n",
        ),
        "utf-8",
    )
    run = CliRunner().invoke(cli, ["--config", str(config.path), "--rules", str(rules), "reclassify"])
    assert "1 did change" in run.output
    with Store(config.db_path) as store:
        created = sync_alerts(store, config, at("2026-10-30"))
        assert [a.kind for a in created] == ["event_updated"]
        assert created[0].detail["changes"] == {"expires": ["2026-11-10", None]}
        # reclassifying again with the same rules changes nothing, so no new alert
        CliRunner().invoke(cli, ["--config", str(config.path), "--rules", str(rules), "reclassify"])
        assert sync_alerts(store, config, at("2026-10-31")) == []


def test_source_health_opens_once_and_recovers_once(tmp_path: Path, site: Any) -> None:
    base = site.base_url
    cfg = tmp_path / "tracker.toml"

    def write(url: str) -> Config:
        cfg.write_text(
            f'[database]\npath = "{tmp_path / "t.db"}"\n[fetch]\nhost_delay = 0.0\nretries = 0\n'
            f'[sources.mofcom]\nurl = "{url}"\n[sources.whitehouse]\nenabled = false\n'
            "[sources.federalregister]\nenabled = false\n[sources.usgs]\nenabled = false\n",
            "utf-8",
        )
        return load_config(cfg)

    broken = write(f"{base}/mofcom/gone.html")
    runner = CliRunner()

    def health(config: Config) -> list[Alert]:
        with Store(config.db_path) as store:
            return [
                a.alert
                for a in reversed(list_alerts(store, config, Tracker(config).routes.values()))
                if a.alert.kind.startswith("health")
            ]

    for attempt in range(1, 5):  # fetch (which brings alerts up to date) fails four times
        assert runner.invoke(cli, ["--config", str(cfg), "fetch"]).exit_code == 1
        assert len(health(broken)) == (0 if attempt < 3 else 1)
    [opened] = health(broken)
    assert opened.kind == "health_open"
    assert "failed 3 runs in a row" in opened.detail["reason"] and "HTTP 404" in opened.detail["reason"]
    fixed = write(f"{base}/mofcom/zwgk/zcfb/index.html")
    assert runner.invoke(cli, ["--config", str(cfg), "fetch"]).exit_code == 0
    assert [a.kind for a in health(fixed)] == ["health_open", "health_recovered"]
    with Store(fixed.db_path) as store:
        assert [a for a in sync_alerts(store, fixed, datetime.now(UTC)) if a.kind.startswith("health")] == []


def test_a_broken_layout_opens_a_health_alert_at_once(tmp_path: Path, site: Any) -> None:
    from tests.conftest import make_config

    config = make_config(
        tmp_path / "t.db", {"mofcom": {"url": f"{site.base_url}/mofcom/zwgk/zcfb/index.html"}}
    )
    from tracker.pipeline import fetch

    fetch(config)
    site.aliases["/mofcom/zwgk/zcfb/index.html"] = site_root() / "usgs/2022/critical-minerals-list.html"
    [stats] = fetch(config)
    assert stats.status == "failed"
    with Store(config.db_path) as store:
        kinds = [
            (a.alert.kind, a.alert.detail["reason"])
            for a in list_alerts(store, config, Tracker(config).routes.values())
            if a.alert.kind.startswith("health")
        ]
    assert len(kinds) == 1 and kinds[0][0] == "health_open" and "layout" in kinds[0][1]


def test_templates_can_be_overridden_one_by_one(tmp_path: Path, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    custom = tmp_path / "mytemplates"
    custom.mkdir()
    (custom / "subject.txt.j2").write_text("[CM] {{ count }} for {{ recipient.email }}", "utf-8")
    config = make(tmp_path, port, extra=f'[digest]\ntemplates = "{custom}"\n')
    ingest(config, SAMPLES[0])
    send_digests(config, at("2026-10-30"))
    [msg] = inbox.messages
    assert msg["Subject"] == "[CM] 1 for a@example.org"
    assert "New export control" in parts(msg)[0]  # the other templates are the built-in ones


def test_an_undefined_template_variable_is_an_error(tmp_path: Path, smtp: tuple[Inbox, int]) -> None:
    _, port = smtp
    custom = tmp_path / "t"
    custom.mkdir()
    (custom / "subject.txt.j2").write_text("{{ no_such_thing }}", "utf-8")
    config = make(tmp_path, port, extra=f'[digest]\ntemplates = "{custom}"\n')
    Store(config.db_path).close()  # the digest reads a database: it must exist
    result = CliRunner().invoke(cli, ["--config", str(config.path), "digest"])
    assert result.exit_code != 0 and "no_such_thing" in result.output


def cli_run(config: Config, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config.path), *args], catch_exceptions=False)


def test_digest_cli_writes_txt_html_and_eml_without_marking_anything(tmp_path: Path) -> None:
    config = make(tmp_path, free_port())
    ingest(config, SAMPLES[0])
    now = ["--now", "2026-10-30T01:00:00+00:00"]
    for name in ("d.txt", "d.html", "d.eml"):
        assert cli_run(config, "digest", "--out", str(tmp_path / name), *now).exit_code == 0
    assert "New export control" in (tmp_path / "d.txt").read_text("utf-8")
    html = (tmp_path / "d.html").read_text("utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html
    msg = email.message_from_bytes((tmp_path / "d.eml").read_bytes(), policy=default_policy)
    assert msg.get_content_type() == "multipart/alternative" and msg["Message-ID"]
    stdout = cli_run(config, "digest", *now).output
    assert stdout.startswith("minerals-tracker digest for a@example.org")
    with Store(config.db_path) as store:
        sync_alerts(store, config, at("2026-10-30"))  # a preview creates no alert: they come now
        assert (
            len(
                list_alerts(
                    store, config, Tracker(config).routes.values(), pending=True, now=at("2026-10-30")
                )
            )
            == 1
        )
    since = cli_run(config, "digest", "--since", "2020-01-01", *now).output
    assert "since 2020-01-01" not in since and "New export control" in since
    bad = CliRunner().invoke(cli, ["--config", str(config.path), "digest", "--out", str(tmp_path / "d.pdf")])
    assert bad.exit_code == 2 and "write .txt, .html or .eml" in bad.output


def test_a_scraped_script_title_is_escaped_in_html(tmp_path: Path, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    page = tmp_path / "evil.html"
    page.write_text(
        "<html><body><h1 class='art-title'>商务部公告2027年第1号 关于对镓实施出口管制的公告 &lt;script&gt;alert(1)&lt;/script&gt;</h1>"
        "<div class='art-con'><p>【发布文号】商务部公告2027年第1号</p><p>【发文日期】2027年01月05日</p>"
        "<p>决定对镓实施出口管制。</p></div></body></html>",
        "utf-8",
    )
    config = make(tmp_path, port)
    ingest(config, page)
    send_digests(config, at("2027-01-06"))
    text, html = parts(inbox.messages[0])
    assert "<script>alert(1)</script>" in text  # plain text shows it as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script" not in html


def test_alerts_cli_and_atom_feed(tmp_path: Path) -> None:
    import feedparser

    config = make(tmp_path, free_port())
    ingest(config, SAMPLES[0])
    listing = cli_run(config, "alerts", "--json")
    [row] = __import__("json").loads(listing.output)
    assert row["kind"] == "event" and row["pending_for"] == ["a@example.org"]
    assert "pending" in cli_run(config, "alerts", "--pending").output
    assert cli_run(config, "feed", "--out", str(tmp_path / "a.xml")).exit_code == 0
    parsed = feedparser.parse((tmp_path / "a.xml").read_bytes())
    assert not parsed.bozo, parsed.get("bozo_exception")
    [entry] = parsed.entries
    assert entry.title.startswith("New export control: 商务部 海关总署公告2023年第23号")
    assert "gallium" in entry.summary.lower() or "Gallium" in entry.summary


def test_a_silent_source_opens_a_health_alert(tmp_path: Path, site: Any) -> None:
    from datetime import timedelta

    from tests.conftest import make_config
    from tracker.pipeline import fetch

    config = make_config(
        tmp_path / "t.db",
        {"mofcom": {"url": f"{site.base_url}/mofcom/zwgk/zcfb/index.html", "interval": "1h"}},
    )
    fetch(config)
    with Store(config.db_path) as store:
        last = datetime.fromisoformat(store.source_state("mofcom").last_success)
        assert [
            a for a in sync_alerts(store, config, last + timedelta(hours=2)) if a.kind.startswith("health")
        ] == []
        [silent] = [
            a for a in sync_alerts(store, config, last + timedelta(hours=4)) if a.kind.startswith("health")
        ]
    assert silent.kind == "health_open" and "no successful run since" in silent.detail["reason"]


def test_every_sentence_can_be_reworded_in_the_templates(tmp_path: Path, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    custom = tmp_path / "words"
    custom.mkdir()
    shipped = Path(__file__).parent.parent / "templates"
    labels = (shipped / "_labels.j2").read_text("utf-8")
    (custom / "_labels.j2").write_text(labels.replace('"New export control"', '"Zoning order"'), "utf-8")
    sentences = (shipped / "_sentences.j2").read_text("utf-8")
    for old, new in (("takes effect", "starts"), ("Updated: ", "Changed: "), ("is failing", "is down")):
        assert old in sentences
        sentences = sentences.replace(old, new)
    (custom / "_sentences.j2").write_text(sentences, "utf-8")
    config = make(tmp_path, port, extra=f'[digest]\ntemplates = "{custom}"\n')
    ingest(config, SAMPLES[1], SAMPLES[2])  # 2025-57 in force 2025-11-08; 2025-70 (a suspension)
    with sqlite3.connect(config.db_path) as db:  # the suspension ends the day 2025-57 starts
        db.execute("UPDATE events SET expires = '2025-11-08' WHERE doc_number = 'MOFCOM 2025-70'")
    send_digests(config, at("2025-11-01"))
    text, html = parts(inbox.messages[0])
    for body in (text, html):
        assert "Zoning order starts in 7 days (2025-11-08)" in body  # a deadline alert's heading
        assert "New export control" not in body and "takes effect" not in body
    # the dates ahead of one day come in the order of their words: 'suspension' before 'zoning'
    assert (
        "* suspension of MOFCOM 2025-70 expires 2025-11-08, in 7 days\n"
        "* zoning order of MOFCOM 2025-57 starts 2025-11-08, in 7 days\n"
    ) in text


def test_what_the_sentences_print_is_escaped_in_html_and_the_feed(
    tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    import feedparser

    inbox, port = smtp
    config = make(tmp_path, port)
    ingest(config, SAMPLES[2])  # 2025-70, suspended until 2026-11-10
    with sqlite3.connect(config.db_path) as db:  # a number and an error as a careless page might give
        db.execute("UPDATE events SET doc_number = 'No. <i>70</i> & co' WHERE doc_number = 'MOFCOM 2025-70'")
        db.execute(
            "INSERT INTO source_state(source, consecutive_failures, last_error)"
            " VALUES ('mofcom', 3, 'HTTP 500: <b>x</b> & y')"
        )
    send_digests(config, at("2026-10-30"))
    text, html = parts(inbox.messages[0])
    assert "* suspension of No. <i>70</i> & co expires 2026-11-10, in 11 days" in text
    assert "  No. <i>70</i> & co — suspension; " in text
    assert "* Source mofcom is failing: failed 3 runs in a row: HTTP 500: <b>x</b> & y" in text
    assert "<li>suspension of No. &lt;i&gt;70&lt;/i&gt; &amp; co expires 2026-11-10, in 11 days</li>" in html
    assert "<div>No. &lt;i&gt;70&lt;/i&gt; &amp; co — suspension; " in html
    assert "failed 3 runs in a row: HTTP 500: &lt;b&gt;x&lt;/b&gt; &amp; y</li>" in html
    assert "<i>" not in html and "<b>x" not in html and "&amp;lt;" not in html  # nothing twice either
    assert cli_run(config, "feed", "--out", str(tmp_path / "a.xml")).exit_code == 0
    feed = feedparser.parse((tmp_path / "a.xml").read_bytes())
    assert not feed.bozo, feed.get("bozo_exception")
    summaries = [e.summary for e in feed.entries]
    assert any(s.startswith("No. <i>70</i> & co — suspension; ") for s in summaries)
    assert "failed 3 runs in a row: HTTP 500: <b>x</b> & y" in summaries
