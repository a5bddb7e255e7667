"""The database file and its connection: opening (migrations from tracker.store.migrations, WAL
with synchronous NORMAL, errors in one line), transactions (one write lock per file in a process),
and the base every group of tables builds on."""

from __future__ import annotations

import itertools
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from tracker.errors import MissingDatabaseError, StoreError
from tracker.store.migrations import migrations


def now_iso() -> str:
    """Current UTC time, ISO 8601 with offset, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


# What SQLite says about the database file itself, as (error name prefix, what, what to do); the
# first matching prefix wins. Anything else (a constraint, a syntax error) is a bug, not the file.
_PERMISSIONS = "check the permissions of the file and of its folder, or use --db"
_RESTORE = "restore it from a backup, or use --db for another file"
_FOLDER = "make its folder writable, or use --db"
_WAL = "SQLite writes -wal and -shm files beside it: " + _FOLDER
_FULL = "free space on its disk, then run the command again (the failed change was undone)"
_LATER = "another process kept it busy for 30 seconds: run the command again later"
_FILE_ERRORS = (
    ("SQLITE_READONLY_DIRECTORY", "its folder is read-only", _WAL),
    ("SQLITE_READONLY", "the database is read-only", _PERMISSIONS),
    ("SQLITE_CANTOPEN", "cannot open the database file", "check that it is readable and " + _FOLDER),
    ("SQLITE_PERM", "permission denied", _PERMISSIONS),
    ("SQLITE_FULL", "disk full", _FULL),
    ("SQLITE_NOTADB", "not a tracker database or corrupt", _RESTORE),
    ("SQLITE_CORRUPT", "not a tracker database or corrupt", _RESTORE),
    ("SQLITE_IOERR", "input/output error", "check the disk (full? failing?), then run the command again"),
    ("SQLITE_BUSY", "the database is locked", _LATER),
    ("SQLITE_LOCKED", "the database is locked", _LATER),
)
# errors that pass with time: _setup retries them, and Store.write leaves them as they are
_TRANSIENT = ("SQLITE_BUSY", "SQLITE_LOCKED")

# One write lock per database file in this process: the threads of a fetch queue for it here
# rather than in SQLite's busy handler, which sleeps between polls (1, 2, 5, 10 ms ...) and so
# kept four workers waiting on each other's short transactions. Other processes still wait in
# busy_timeout.
_WRITE_LOCKS: dict[str, threading.RLock] = {}
_SAVEPOINTS = itertools.count()  # savepoint names: unique in the process, cheaper than random ones
_WRITE_LOCKS_GUARD = threading.Lock()


def _write_lock(path: Path) -> threading.RLock:
    """The process-wide write lock of the database file at `path`."""
    key = str(path) if str(path) == ":memory:" else os.path.abspath(path)
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(key, threading.RLock())


def database_error(path: str | Path, exc: BaseException) -> StoreError | None:
    """The one-line StoreError, with what to do, for an error SQLite reports about the database
    file (read-only, disk full, corrupt, not a database, I/O, locked); None for any other error."""
    code = getattr(exc, "sqlite_errorname", None) or ""
    for prefix, what, hint in _FILE_ERRORS:
        if code.startswith(prefix):
            detail = f" ({exc})" if prefix in ("SQLITE_NOTADB", "SQLITE_CORRUPT", "SQLITE_IOERR") else ""
            return StoreError(f"{path}: {what}{detail}: {hint}")
    return None


def require_database(path: str | Path) -> None:
    """A MissingDatabaseError unless the database file `path` exists: what every command that only
    reads checks first, so that a mistyped --db is an error rather than a new, empty database."""
    file = Path(path)
    if str(path) == ":memory:" or file.exists():
        return
    if file.parent and not file.parent.exists():
        raise MissingDatabaseError(
            f"{file}: folder {file.parent} does not exist: check --db or [database] path"
        )
    raise MissingDatabaseError(f"{path}: no such database (fetch creates one; check --db or [database] path)")


Parameters = Sequence[Any] | Mapping[str, Any]

# statements that return no rows and would end, or cannot run in, a transaction: not queries
_NOT_QUERIES = frozenset(
    {"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE", "VACUUM", "ATTACH", "DETACH"}
)


class Connection:
    """The part of sqlite_utils.Database the store uses, over one sqlite3 connection and with the
    same behaviour: `execute` runs a statement, a write outside any transaction being committed
    at once (and nothing left open when it fails); `query` gives rows as dicts. Our own, so that
    opening an up-to-date database imports no sqlite-utils (it applies the migrations:
    tracker.store.migrations).

    The connection is put in autocommit mode: sqlite3 opens no transaction by itself before a
    write (which sqlite-utils then commits by hand); every transaction is one we begin (BEGIN,
    SAVEPOINT), and a statement outside them is its own."""

    def __init__(self, conn: sqlite3.Connection):
        conn.isolation_level = None
        self.conn = conn
        # as sqlite_utils.Database turns them on: a row deleted by REPLACE fires its delete triggers
        conn.execute("PRAGMA recursive_triggers = on")

    def execute(self, sql: str, parameters: Parameters | None = None) -> sqlite3.Cursor:
        """Run one statement; outside a transaction a write is committed at once."""
        return self.conn.execute(sql) if parameters is None else self.conn.execute(sql, parameters)

    def query(self, sql: str, parameters: Parameters | None = None) -> Iterator[dict[str, Any]]:
        """The rows of a statement that returns rows, each a dict by column name (a repeated
        name gets _2, _3 ...); another statement is a ValueError, and has no effect. A SELECT
        runs as it is; anything else inside a savepoint, undone when it returns no rows."""
        keyword = _first_keyword(sql)
        args: tuple[Parameters, ...] = () if parameters is None else (parameters,)
        if keyword == "SELECT":  # cannot write: no savepoint needed
            cursor = self.conn.execute(sql, *args)
            return _dicts(cursor, cursor)
        if keyword in _NOT_QUERIES:
            raise ValueError(_NOT_A_QUERY)
        if keyword == "PRAGMA":  # some refuse to run in a transaction: no savepoint
            cursor = self.conn.execute(sql, *args)
            if cursor.description is None:
                raise ValueError(_NOT_A_QUERY)
            return _dicts(cursor, cursor)
        return self._guarded_query(sql, args)

    def _guarded_query(self, sql: str, args: tuple[Parameters, ...]) -> Iterator[dict[str, Any]]:
        conn = self.conn
        conn.execute('SAVEPOINT "tracker_query"')
        released = False
        try:
            cursor = conn.execute(sql, *args)
            if cursor.description is None:
                raise ValueError(_NOT_A_QUERY)
            # a write that returns rows (RETURNING) must run to its end before the release
            rows = cursor.fetchall()
            conn.execute('RELEASE "tracker_query"')
            released = True
            return _dicts(cursor, rows)
        finally:
            if not released and conn.in_transaction:
                conn.execute('ROLLBACK TO "tracker_query"')
                conn.execute('RELEASE "tracker_query"')

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


_NOT_A_QUERY = "query() can only be used with SQL that returns rows - use execute() for other statements"


def _dicts(cursor: sqlite3.Cursor, rows: Iterator[Any] | list[Any]) -> Iterator[dict[str, Any]]:
    keys = [d[0] for d in cursor.description]
    if len(set(keys)) != len(keys):
        keys = _unique(keys)
    return (dict(zip(keys, row, strict=True)) for row in rows)


def _unique(keys: list[str]) -> list[str]:
    """Column names made unique as sqlite-utils makes them: a repeated name gets _2, _3 ...,
    skipping a suffix that is another column's name."""
    taken, seen, out = set(keys), set[str](), []
    for key in keys:
        if key in seen:
            name, suffix = key, 2
            while name in seen or name in taken:
                name, suffix = f"{key}_{suffix}", suffix + 1
            key = name
        seen.add(key)
        out.append(key)
    return out


def _first_keyword(sql: str) -> str:
    """The first keyword of a statement, upper case, after blanks, `;`, a byte order mark and
    comments; '' when there is none."""
    i, n = 0, len(sql)
    while i < n:
        if sql[i].isspace() or sql[i] in ";\ufeff":
            i += 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            if end < 0:
                return ""
            i = end + 1
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            if end < 0:
                return ""
            i = end + 2
        else:
            j = i
            while j < n and (sql[j].isalnum() or sql[j] == "_"):
                j += 1
            return sql[i:j].upper()
    return ""


def _empty_file(path: Path) -> bool:
    """True for a file of 0 bytes (with no write-ahead log holding its content)."""
    try:
        if path.stat().st_size:
            return False
        wal = Path(f"{path}-wal")
        return not (wal.exists() and wal.stat().st_size)
    except OSError:
        return False


class Database:
    """A connection to the tracker database. Open one per thread (or, with `any_thread`, pass it
    from thread to thread, used by one at a time); every write is atomic, and the writers of one
    process take turns on one lock per database file.

    A missing file becomes a new database (built beside it and moved into place whole), unless
    `create` is false: then it is a MissingDatabaseError, as a reader wants for a mistyped path. An
    existing file must be a tracker database: a 0-byte file, or another program's SQLite file, is
    refused rather than silently taken for an empty tracker."""

    def __init__(self, path: str | Path, *, create: bool = True, any_thread: bool = False):
        self.path = Path(path)
        # a connection handed from thread to thread (never used by two at once): a fetch's pool
        self.any_thread = any_thread
        # the savepoints of the writes under way, innermost last: (name, conn.total_changes when opened)
        self._savepoints: list[tuple[str, int]] = []
        self._depth = 0  # writes under way, nested
        self._deferred: list[tuple[str, Parameters]] = []  # statements for the end of the outermost (defer)
        self._lock = threading.RLock() if str(path) == ":memory:" else _write_lock(self.path)
        if str(path) == ":memory:":  # a scratch database (tracker check): no file to look at
            self.db = self._connect(self.path)
            return
        if not create:
            require_database(path)
        try:
            if self.path.parent and not self.path.parent.exists():
                raise StoreError(f"{self.path}: folder {self.path.parent} does not exist")
            is_dir, exists = self.path.is_dir(), self.path.exists()
        except OSError as exc:  # a folder on the way that cannot be read
            raise StoreError(
                f"{self.path}: cannot look at the database file: {exc.strerror or exc}: check the "
                "permissions of its folder, or use --db with a full path"
            ) from None
        if is_dir:
            raise StoreError(f"{self.path}: is a folder, not a database file: use --db FILE")
        if not exists:
            self._create()
        elif _empty_file(self.path):
            raise StoreError(
                f"{self.path}: the file is empty (0 bytes), not a tracker database: if it should hold "
                "your data, restore it from a backup; to start a new database, delete it or use --db "
                "for a file that does not exist yet"
            )
        self.db = self._connect(self.path)

    def _connect(self, path: Path) -> Connection:
        """`path` opened, in WAL mode and migrated; errors name self.path (the file the user gave)."""
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(str(path), timeout=30, check_same_thread=not self.any_thread)
            self.db = Connection(conn)
            self.db.execute("PRAGMA busy_timeout = 30000")
            self.db.execute("PRAGMA foreign_keys = ON")
            self._setup()
            # in WAL mode (set by _setup), synchronous NORMAL: a commit is not flushed to disk by
            # itself (the log is, at checkpoints), so a power cut may undo the last commits but
            # never corrupts the file, and a crash of the process loses nothing; FULL cost an
            # fsync per source and per page of a fetch
            self.db.execute("PRAGMA synchronous = NORMAL")
            return self.db
        except BaseException as exc:
            if conn is not None:
                conn.close()
            if isinstance(exc, sqlite3.DatabaseError):
                error = database_error(self.path, exc)
                raise error or StoreError(f"{self.path}: cannot open database: {exc}") from None
            raise

    def _create(self) -> None:
        """Build a new database under a temporary name and link it into place, so that the file
        appears whole: no process sees it half made, and a 0-byte file is never one of ours."""
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.new")
        try:
            try:
                tmp.touch(exist_ok=False)
            except OSError as exc:
                raise StoreError(
                    f"{self.path}: cannot create the database: {exc.strerror or exc}: "
                    "make its folder writable, or use --db"
                ) from None
            db = self._connect(tmp)
            try:
                # everything into the file itself: the link below takes neither -wal nor -shm
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                db.close()
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                pass  # another process created it first: open theirs
            except OSError:  # a filesystem without hard links
                if not self.path.exists():
                    os.replace(tmp, self.path)
        finally:
            for leftover in ("", "-wal", "-shm", "-journal"):
                Path(f"{tmp}{leftover}").unlink(missing_ok=True)

    def _setup(self) -> None:
        # Switching to WAL and migrating need the write lock; another process opening the same
        # file at the same moment makes SQLite answer 'locked' at once, so wait and retry.
        for attempt in range(100):
            try:
                pending = migrations.pending(self.db)
                if pending and not migrations.applied(self.db) and (foreign := self._foreign_tables()):
                    # checked before anything is written: another program's file stays as it was
                    raise StoreError(
                        f"{self.path}: not a tracker database (a SQLite database of another program, "
                        f"with tables such as {foreign[0]!r}): use --db for the tracker's database file"
                    )
                if self.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    self.db.execute("PRAGMA journal_mode = wal")
                if pending:
                    with self.write():
                        migrations.apply(self.db)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 99:
                    raise
                time.sleep(0.05)

    def _foreign_tables(self) -> list[str]:
        return [
            r[0]
            for r in self.db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                " AND name != ? ORDER BY name",
                [migrations.migrations_table],
            )
        ]

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    @contextmanager
    def write(self) -> Iterator[None]:
        """A write transaction, all or nothing. The threads of this process take turns on the
        file's write lock; BEGIN IMMEDIATE then takes SQLite's up front, so writers of other
        processes wait (busy_timeout) instead of failing on a stale read snapshot. A
        read-only, full or corrupt database raises StoreError (database_error), after the rollback.
        Nested in a write of the same thread, it is a savepoint of that write's transaction."""
        with self._file_errors(), self._transaction():
            yield

    def write_one(self, sql: str, parameters: Parameters = ()) -> sqlite3.Cursor:
        """Run one writing statement, all or nothing as in write(), which it needs no
        transaction for: a statement is atomic by itself, committed at once outside a
        transaction and, inside the thread's open one, undone alone when it fails (no savepoint)."""
        with self._file_errors(), self._lock:
            return self.db.execute(sql, parameters)

    @contextmanager
    def _file_errors(self) -> Iterator[None]:
        """SQLite's errors about the database file as StoreError (see write)."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            code = getattr(exc, "sqlite_errorname", None) or ""
            error = None if code.startswith(_TRANSIENT) else database_error(self.path, exc)
            if error is None:
                raise
            raise error from exc

    @contextmanager
    def rehearsal(self) -> Iterator[None]:
        """A transaction undone at the end, whatever happens in it: what is written inside is
        seen inside, then forgotten (a digest preview brings the alerts up to date this way and
        leaves the database as it was)."""
        conn = self.db.conn
        with self._lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            finally:
                if conn.in_transaction:
                    conn.rollback()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        # the lock first: the thread that holds it owns the connection's transaction, and a write
        # nested in it (same thread, the lock being re-entrant) is a savepoint of it
        with self._lock:
            conn = self.db.conn
            if conn.in_transaction:
                with self._savepoint(conn), self._deferring():
                    yield
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                with self._deferring():
                    yield
            except BaseException:
                conn.rollback()
                raise
            try:
                conn.commit()
            except sqlite3.DatabaseError:
                if conn.in_transaction:  # a failed COMMIT (disk full) may leave the transaction open
                    conn.rollback()
                raise

    def defer(self, sql: str, parameters: Parameters) -> None:
        """Run a writing statement at the end of the outermost write under way, inside its
        transaction, together with those like it (executemany), or at once outside a write. For
        what nothing reads before then: the full-text index (FTS5 writes what it was given as a
        segment of its own at every savepoint, so a page's documents, each in a savepoint, made
        a segment each)."""
        if self._depth:
            self._deferred.append((sql, parameters))
        else:
            self.write_one(sql, parameters)

    @contextmanager
    def _deferring(self) -> Iterator[None]:
        """The body of a write: at the end of the outermost, the statements deferred in it run; a
        write undone forgets those deferred in it."""
        mark = len(self._deferred)
        self._depth += 1
        try:
            yield
            if self._depth == 1 and self._deferred:
                deferred, self._deferred = self._deferred, []
                for sql, group in itertools.groupby(deferred, key=lambda d: d[0]):
                    self.db.conn.executemany(sql, [params for _, params in group])
        except BaseException:
            del self._deferred[mark:]
            raise
        finally:
            self._depth -= 1

    @contextmanager
    def _savepoint(self, conn: sqlite3.Connection) -> Iterator[None]:
        """A savepoint for a nested write. Nothing written since the enclosing write's savepoint
        was opened (no row changed: conn.total_changes; no nested write changes the schema),
        that one marks the same state and is shared: a page's transaction stores each document
        in a savepoint, and the document's own write needs no second one."""
        if self._savepoints and self._savepoints[-1][1] == conn.total_changes:
            name = self._savepoints[-1][0]
            try:
                yield
            except BaseException:
                if conn.in_transaction:  # kept: the enclosing write goes on in it, or undoes it
                    conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                raise
            return
        name = f"sp_{next(_SAVEPOINTS)}"
        conn.execute(f"SAVEPOINT {name}")
        self._savepoints.append((name, conn.total_changes))
        try:
            yield
        except BaseException:
            # SQLite may already have rolled the whole transaction back (disk full, I/O
            # error): then there is no savepoint left, and the original error is the one to raise
            if conn.in_transaction:
                conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                conn.execute(f"RELEASE SAVEPOINT {name}")
            raise
        finally:
            self._savepoints.pop()
        conn.execute(f"RELEASE SAVEPOINT {name}")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- documents -----------------------------------------------------------------------------
