"""Durable conversation sessions in one SQLite file under the stayline home.

Every message is its own committed row, so a crash or ``kill -9`` loses at most the
message in flight. ``repair_history`` turns what a crash left into a history both wires
accept (every tool call answered, no unsigned thinking, no orphan results); the session
binding saves the repair, so any number of resumes stay valid.

The store holds only messages and the session metadata below: there is deliberately no
column for settings, headers or keys, so secrets cannot leak into the file by accident.
"""

from __future__ import annotations

import builtins
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.messages import Message
from agent.repair import NOT_EXECUTED, OUTCOME_UNKNOWN, repair_history

log = logging.getLogger(__name__)
__all__ = ["NOT_EXECUTED", "OUTCOME_UNKNOWN", "SessionInfo", "SessionStore", "SessionStoreError", "repair_history"]

SCHEMA_VERSION = 1
DB_NAME = "sessions.db"
TITLE_MAX = 60
BUSY_TIMEOUT_MS = 5000
RUNNING_TOOL_CALL = "running_tool_call"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    title TEXT,
    model TEXT NOT NULL,
    provider TEXT NOT NULL,
    workdir TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_used REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_last_used ON sessions (last_used);
CREATE TABLE IF NOT EXISTS messages (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    role TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (session_id, seq)
);
CREATE TABLE IF NOT EXISTS session_state (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (session_id, key)
);
"""

_INFO_SELECT = """
SELECT s.id, s.title, s.model, s.provider, s.workdir, s.created_at, s.last_used,
       (SELECT COUNT(*) FROM messages m WHERE m.session_id = s.id)
FROM sessions s
"""


class SessionStoreError(Exception):
    """The session database cannot be used; the message says what to do."""


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: str
    title: str | None
    model: str
    provider: str
    workdir: str
    created_at: float
    last_used: float
    message_count: int


class SessionStore:
    """One connection per store, serialised by a lock, so it may be shared by threads.

    Several stores (threads or processes) may open the same file: WAL lets readers run
    beside a writer and the busy timeout makes concurrent writers queue, not fail.
    """

    def __init__(self, home: Path, clock: Callable[[], float] = time.time) -> None:
        self.home = Path(home)
        self.path = self.home / DB_NAME
        self._clock = clock
        self._lock = threading.Lock()
        _make_private_dir(self.home)
        _make_private_file(self.path)
        self._conn = _connect(self.path)
        try:
            self._init_schema()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise SessionStoreError(f"cannot open session database {self.path}: {exc}") from exc
        except BaseException:
            self._conn.close()
            raise

    # -- lifecycle -------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes ----------------------------------------------------------------------

    def create(self, model: str, provider: str, workdir: str, title: str | None = None) -> str:
        now = self._clock()
        session_id = new_session_id(now)
        with self._write() as conn:
            conn.execute(
                "INSERT INTO sessions (id, title, model, provider, workdir, created_at, last_used)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (session_id, title, model, provider, workdir, now, now),
            )
        return session_id

    def append(self, session_id: str, message: Message) -> None:
        now = self._clock()
        data = json.dumps(message.to_dict(), ensure_ascii=False)
        with self._write() as conn:
            self._touch(conn, session_id, now, _title_from(message))
            # Read MAX(seq) inside the write transaction: BEGIN IMMEDIATE holds the write
            # lock, so another store appending to the same session cannot take our seq.
            row = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM messages WHERE session_id = ?", (session_id,))
            seq = int(row.fetchone()[0]) + 1
            conn.execute(
                "INSERT INTO messages (session_id, seq, role, data, created_at) VALUES (?, ?, ?, ?, ?)",
                (session_id, seq, message.role, data, now),
            )

    def set_model(self, session_id: str, provider: str, model: str) -> None:
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE sessions SET provider = ?, model = ? WHERE id = ?", (provider, model, session_id)
            )
            _require_row(cur, session_id)

    def delete_last(self, session_id: str, count: int) -> None:
        """Remove the last ``count`` stored messages (``/undo``)."""
        if count <= 0:
            return
        with self._write() as conn:
            conn.execute(
                "DELETE FROM messages WHERE session_id = ? AND seq IN"
                " (SELECT seq FROM messages WHERE session_id = ? ORDER BY seq DESC LIMIT ?)",
                (session_id, session_id, count),
            )

    def replace_messages(self, session_id: str, messages: builtins.list[Message]) -> None:
        """Store exactly ``messages`` as the session's history (after ``/undo``)."""
        now = self._clock()
        with self._write() as conn:
            conn.execute("DELETE FROM messages WHERE session_id = ?", (session_id,))
            conn.executemany(
                "INSERT INTO messages (session_id, seq, role, data, created_at) VALUES (?, ?, ?, ?, ?)",
                [
                    (session_id, seq, m.role, json.dumps(m.to_dict(), ensure_ascii=False), now)
                    for seq, m in enumerate(messages, start=1)
                ],
            )

    def set_state(self, session_id: str, key: str, value: dict[str, Any]) -> None:
        """Keep a small JSON document with the session (the stall ledger)."""
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO session_state (session_id, key, value) VALUES (?, ?, ?)",
                (session_id, key, json.dumps(value)),
            )

    def get_state(self, session_id: str, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT value FROM session_state WHERE session_id = ? AND key = ?", (session_id, key)
            ).fetchone()
        if row is None:
            return None
        try:
            value = json.loads(row[0])
        except json.JSONDecodeError:
            log.warning("session %s: unreadable state %r ignored", session_id, key)
            return None
        return value if isinstance(value, dict) else None

    # -- reads -----------------------------------------------------------------------

    def load(self, session_id: str) -> list[Message]:
        """The history in order, repaired so that it is valid on every wire; the repair is
        saved, so the next load (and every request) sees the same valid history. Rows
        that cannot be read are skipped but kept on disk: then the repair is not saved."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, data FROM messages WHERE session_id = ? ORDER BY seq", (session_id,)
            ).fetchall()
        messages = [m for seq, data in rows if (m := _decode(session_id, seq, data)) is not None]
        running = (self.get_state(session_id, RUNNING_TOOL_CALL) or {}).get("call_id")
        repaired = repair_history(messages, running if isinstance(running, str) else None)
        if repaired != messages and len(messages) == len(rows):
            self.replace_messages(session_id, repaired)
        return repaired

    def mark_running(self, session_id: str, call_id: str) -> None:
        """Remember the tool call about to run, so a crash during it reads as "outcome
        unknown" on the next load (its result, once saved, makes the mark moot)."""
        self.set_state(session_id, RUNNING_TOOL_CALL, {"call_id": call_id})

    def get(self, session_id: str) -> SessionInfo | None:
        rows = self._infos(_INFO_SELECT + " WHERE s.id = ?", (session_id,))
        return rows[0] if rows else None

    def latest(self) -> SessionInfo | None:
        rows = self.list(limit=1)
        return rows[0] if rows else None

    # Defined last and annotated via ``builtins`` because this method shadows ``list``.
    def list(self, limit: int = 20) -> builtins.list[SessionInfo]:
        # rowid breaks ties so that sessions used in the same clock tick stay stable.
        return self._infos(_INFO_SELECT + " ORDER BY s.last_used DESC, s.rowid DESC LIMIT ?", (limit,))

    # -- internals -------------------------------------------------------------------

    def _infos(self, sql: str, params: tuple[Any, ...]) -> builtins.list[SessionInfo]:
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return [SessionInfo(*row) for row in rows]

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One committed transaction; the commit is the durability point of each call."""
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _touch(self, conn: sqlite3.Connection, session_id: str, now: float, title: str | None) -> None:
        cur = conn.execute(
            "UPDATE sessions SET last_used = ?, title = COALESCE(title, ?) WHERE id = ?",
            (now, title, session_id),
        )
        _require_row(cur, session_id)

    def _init_schema(self) -> None:
        with self._write() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = int(row[0]) if row else None
            if version is not None and version > SCHEMA_VERSION:
                raise SessionStoreError(
                    f"{self.path} was created by a newer stayline (schema {version}, this one reads"
                    f" {SCHEMA_VERSION}); upgrade stayline to open it"
                )
            _run_script(conn, _SCHEMA)
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )


# -- helpers ---------------------------------------------------------------------------


def new_session_id(now: float) -> str:
    """Millisecond time in hex then randomness: sorts by creation, short, unique."""
    return f"{int(now * 1000):011x}{uuid.uuid4().hex[:8]}"


def _title_from(message: Message) -> str | None:
    if message.role != "user":
        return None
    lines = message.text.strip().splitlines()
    if not lines:
        return None
    return lines[0].strip()[:TITLE_MAX].rstrip() or None


def _decode(session_id: str, seq: int, data: str) -> Message | None:
    """A stored row as a Message, or None (with a warning) when it cannot be read."""
    try:
        decoded = json.loads(data)
        if not isinstance(decoded, dict):
            raise ValueError("not a JSON object")
        return Message.from_dict(decoded)
    except (ValueError, TypeError, AttributeError) as exc:
        log.warning("session %s: skipping unreadable message %d: %s", session_id, seq, exc)
        return None


def _require_row(cur: sqlite3.Cursor, session_id: str) -> None:
    if cur.rowcount == 0:
        raise SessionStoreError(f"no session {session_id!r}")


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT our open transaction first; run statements one by one.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _connect(path: Path) -> sqlite3.Connection:
    try:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves so every write is explicit.
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL under WAL survives a process kill; only an OS crash can lose the last commit.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as exc:
        raise SessionStoreError(f"cannot open session database {path}: {exc}") from exc
    return conn


def _make_private_dir(home: Path) -> None:
    if not home.exists():
        home.mkdir(parents=True, mode=0o700)
        os.chmod(home, 0o700)  # mkdir's mode is filtered by the umask


def _make_private_file(path: Path) -> None:
    # Create it ourselves so it is 0600; SQLite gives the -wal/-shm files the same mode.
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
