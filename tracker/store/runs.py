"""The tables of runs: fetch runs, each source's health, list versions, and when each job of
`tracker run` last started and succeeded (`job_runs`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tracker.models import ListVersion, RunStats, sha256
from tracker.store.base import Database, now_iso
from tracker.wording import plural


def source_health(failures: int, last_success: str | None) -> str:
    """A source's health in one code: 'failing' (its last run failed), 'ok' (it succeeded last) or
    'never' (it never succeeded and has not failed either). `tracker sources` adds 'disabled'."""
    return "failing" if failures else ("ok" if last_success else "never")


@dataclass(frozen=True)
class SourceState:
    """The health row of one source (`source_state`); a source that never ran has the defaults."""

    source: str
    last_run_at: str | None = None
    last_success: str | None = None
    last_error: str | None = None
    last_error_at: str | None = None
    consecutive_failures: int = 0
    last_items_seen: int | None = None
    max_items_seen: int = 0
    incomplete: bool = False  # its last run did not get to the end (resume, not "caught up")

    @property
    def health(self) -> str:
        """'failing', 'ok' or 'never' (`source_health`)."""
        return source_health(self.consecutive_failures, self.last_success)


@dataclass(frozen=True)
class Run:
    """One fetch run of a source (`fetch_runs`)."""

    id: int
    source: str
    mode: str
    started_at: str
    finished_at: str | None
    status: str
    http_status: int | None
    items_seen: int
    new_documents: int
    updated_documents: int
    pages: int
    requests: int
    not_modified: int
    error: str | None
    notes: str | None


_SOURCE_STATE = (
    "source",
    "last_run_at",
    "last_success",
    "last_error",
    "last_error_at",
    "consecutive_failures",
    "last_items_seen",
    "max_items_seen",
    "incomplete",
)
_RUN = (
    "id, source, mode, started_at, finished_at, status, http_status, items_seen, new_documents,"
    " updated_documents, pages, requests, not_modified, error, notes"
)


class RunTables(Database):
    """Fetch runs, source health and the list versions runs kept."""

    def start_run(self, source: str, mode: str) -> int:
        """Record that a run began; a crash leaves it 'running' until `close_interrupted_runs`."""
        cur = self.write_one(
            "INSERT INTO fetch_runs(source, mode, started_at, status) VALUES (?, ?, ?, 'running')",
            [source, mode, now_iso()],
        )
        return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, stats: RunStats) -> None:
        """Close a run and update the source's health in one transaction."""
        now = now_iso()
        error = stats.error
        if stats.item_errors and not error:
            error = f"{plural(len(stats.item_errors), 'item')} failed: " + "; ".join(stats.item_errors[:3])
        with self.write():
            self.db.execute(
                """UPDATE fetch_runs SET finished_at = ?, status = ?, http_status = ?, items_seen = ?,
                       new_documents = ?, updated_documents = ?, pages = ?, requests = ?, not_modified = ?,
                       error = ?, notes = ? WHERE id = ?""",
                [
                    now,
                    stats.status,
                    stats.http_status,
                    stats.items_seen,
                    stats.new_documents,
                    stats.updated_documents,
                    stats.pages,
                    stats.requests,
                    stats.not_modified,
                    error,
                    "; ".join(stats.notes) or None,
                    run_id,
                ],
            )
            # each an upsert: the first run of a source makes its row as the update would leave
            # the defaults (no failures, nothing seen), one statement either way
            if stats.status == "interrupted":  # not the source's fault: health is untouched
                self.db.execute(
                    """INSERT INTO source_state(source, last_run_at, incomplete) VALUES (?, ?, 1)
                       ON CONFLICT(source) DO UPDATE SET last_run_at = excluded.last_run_at, incomplete = 1""",
                    [stats.source, now],
                )
            elif stats.ok:
                # a source that answered "not modified" keeps the count of items it showed last
                seen = None if stats.not_modified and not stats.items_seen else stats.items_seen
                self.db.execute(
                    """INSERT INTO source_state(source, last_run_at, last_success, consecutive_failures,
                           incomplete, last_items_seen, max_items_seen) VALUES (?, ?, ?, 0, 0, ?, ?)
                       ON CONFLICT(source) DO UPDATE SET last_run_at = excluded.last_run_at,
                           last_success = excluded.last_success, consecutive_failures = 0, incomplete = 0,
                           last_items_seen = COALESCE(excluded.last_items_seen, last_items_seen),
                           max_items_seen = MAX(max_items_seen, excluded.max_items_seen)""",
                    [stats.source, now, now, seen, stats.items_seen],
                )
            else:
                self.db.execute(
                    """INSERT INTO source_state(source, last_run_at, last_error, last_error_at, incomplete,
                           consecutive_failures, last_items_seen, max_items_seen) VALUES (?, ?, ?, ?, 1, 1, ?, ?)
                       ON CONFLICT(source) DO UPDATE SET last_run_at = excluded.last_run_at,
                           last_error = excluded.last_error, last_error_at = excluded.last_error_at, incomplete = 1,
                           consecutive_failures = consecutive_failures + 1,
                           last_items_seen = excluded.last_items_seen,
                           max_items_seen = MAX(max_items_seen, excluded.max_items_seen)""",
                    [stats.source, now, error, now, stats.items_seen, stats.items_seen],
                )

    def close_interrupted_runs(self, sources: list[str] | None = None) -> int:
        """Mark runs a crash left 'running' as 'interrupted' (their sources resume next time); only
        those of `sources` when given, so a run going on in another thread is left alone."""
        cond, params = "status = 'running'", []
        if sources:
            cond += f" AND source IN ({','.join('?' * len(sources))})"
            params = list(sources)
        with self.write():
            self.db.execute(
                f"INSERT OR IGNORE INTO source_state(source) SELECT DISTINCT source FROM fetch_runs WHERE {cond}",
                params,
            )
            self.db.execute(
                f"UPDATE source_state SET incomplete = 1 WHERE source IN (SELECT source FROM fetch_runs WHERE {cond})",
                params,
            )
            cur = self.db.execute(
                f"UPDATE fetch_runs SET status = 'interrupted', finished_at = ? WHERE {cond}",
                [now_iso(), *params],
            )
        return cur.rowcount

    def source_state(self, source: str) -> SourceState | None:
        """The health row of one source, if it ever ran."""
        row = self.db.execute(
            f"SELECT {', '.join(_SOURCE_STATE)} FROM source_state WHERE source = ?", [source]
        ).fetchone()
        if row is None:
            return None
        values = dict(zip(_SOURCE_STATE, row, strict=True))
        return SourceState(**{**values, "incomplete": bool(values["incomplete"])})

    def runs(self, source: str | None = None) -> list[Run]:
        """Fetch runs, newest first (only those of `source`, when given)."""
        where, params = ("WHERE source = ?", [source]) if source else ("", [])
        rows = self.db.execute(f"SELECT {_RUN} FROM fetch_runs {where} ORDER BY id DESC", params)
        return [Run(*r) for r in rows]

    def document_counts(self) -> dict[str, int]:
        """Documents stored per source (a document carried by two sources counts for both)."""
        return {
            r["source"]: r["n"]
            for r in self.db.query(
                "SELECT source, COUNT(DISTINCT document_id) AS n FROM document_urls GROUP BY source"
            )
        }

    # --- scheduled jobs (tracker run) ------------------------------------------------------------

    def last_successes(self) -> list[tuple[str, str]]:
        """(job, start of its last successful run) for every job of `tracker run` that succeeded,
        a source fetched by hand (`tracker fetch`) counting as its job `fetch:<source>`; a job
        may come twice (scheduled and by hand)."""
        rows = self.db.execute(
            "SELECT job, last_success FROM job_runs WHERE last_success IS NOT NULL UNION ALL "
            "SELECT 'fetch:' || source, last_success FROM source_state WHERE last_success IS NOT NULL"
        ).fetchall()
        return [(str(job), str(when)) for job, when in rows]

    def record_job(
        self,
        job: str,
        *,
        last_start: str | None = None,
        last_success: str | None = None,
        last_error: str | None = None,
        clear_error: bool = False,
    ) -> None:
        """Note a job's start, success or error in `job_runs` (only the columns given change;
        `clear_error` empties last_error)."""
        columns = {"last_start": last_start, "last_success": last_success, "last_error": last_error}
        changes: dict[str, str | None] = {k: v for k, v in columns.items() if v is not None}
        if clear_error:
            changes["last_error"] = None
        with self.write():
            self.db.execute("INSERT OR IGNORE INTO job_runs(job) VALUES (?)", [job])
            for column, value in changes.items():  # column names from the fixed set above
                self.db.execute(f"UPDATE job_runs SET {column} = ? WHERE job = ?", [value, job])

    # --- list versions -------------------------------------------------------------------------

    def list_versions(self, source: str | None = None) -> list[dict[str, Any]]:
        """Every stored list version, oldest first."""
        sql = "SELECT * FROM list_versions" + (" WHERE source = ?" if source else "") + " ORDER BY id"
        rows = list(self.db.query(sql, [source] if source else []))
        for r in rows:
            r["items"] = json.loads(r["items"])
        return rows

    def list_versions_at(self, source: str, url: str) -> int:
        """How many list versions a source kept from one URL."""
        return int(
            self.db.execute(
                "SELECT count(*) FROM list_versions WHERE source = ? AND url = ?", [source, url]
            ).fetchone()[0]
        )

    def next_list_document(self, source: str, document_id: int) -> int | None:
        """The document of the source's list version that follows the one of `document_id` (by date
        of the list, then order of arrival), if any."""
        row = self.db.execute(
            """SELECT n.document_id FROM list_versions c JOIN list_versions n ON n.source = c.source
               WHERE c.source = ? AND c.document_id = ? AND n.document_id IS NOT NULL
                 AND (COALESCE(n.published, '') > COALESCE(c.published, '')
                      OR (COALESCE(n.published, '') = COALESCE(c.published, '') AND n.id > c.id))
               ORDER BY COALESCE(n.published, ''), n.id LIMIT 1""",
            [source, document_id],
        ).fetchone()
        return int(row[0]) if row else None

    def save_list_version(
        self, source: str, url: str, document_id: int | None, lv: ListVersion, kind: str = "usgs-list"
    ) -> bool:
        """Store a list version unless it equals the newest one at `url`; True when it was new."""
        items_hash = sha256("\n".join(lv.items))
        with self.write():
            last = self.db.execute(
                "SELECT items_hash FROM list_versions WHERE source = ? AND url = ? ORDER BY id DESC LIMIT 1",
                [source, url],
            ).fetchone()
            if last and last[0] == items_hash:
                return False
            self.db.execute(
                """INSERT INTO list_versions(source, url, document_id, published, stated_count, items,
                       items_hash, fetched_at, source_kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [
                    source,
                    url,
                    document_id,
                    _iso(lv.published),
                    lv.stated_count,
                    json.dumps(lv.items, ensure_ascii=False),
                    items_hash,
                    now_iso(),
                    kind,
                ],
            )
        return True


def _iso(d: Any) -> str | None:
    return d.isoformat() if d is not None else None
