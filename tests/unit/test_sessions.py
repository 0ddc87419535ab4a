"""The SQLite session store: durability, ordering and the repaired history view."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from agent.messages import Message, TextPart, ThinkingPart, ToolCallPart, ToolResultPart, user_message
from agent.sessions import NOT_EXECUTED, OUTCOME_UNKNOWN, SCHEMA_VERSION, SessionStore, SessionStoreError

REPO_ROOT = Path(__file__).resolve().parents[2]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[SessionStore]:
    with SessionStore(tmp_path / "home", clock=clock) as opened:
        yield opened


@contextmanager
def _raw(db: Path) -> Iterator[sqlite3.Connection]:
    """A plain connection that commits on success and is always closed."""
    conn = sqlite3.connect(db, timeout=5)
    try:
        with conn:
            yield conn
    finally:
        conn.close()


def _new(store: SessionStore) -> str:
    return store.create(model="m", provider="p", workdir="/w")


def _assistant_call(call_id: str = "c1") -> Message:
    return Message("assistant", [TextPart("running"), ToolCallPart(call_id, "shell", {"cmd": "ls"})])


def test_creates_private_home_and_db(tmp_path: Path) -> None:
    home = tmp_path / "a" / "home"
    SessionStore(home).close()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert (home / "sessions.db").is_file()
    assert stat.S_IMODE((home / "sessions.db").stat().st_mode) == 0o600


def test_round_trip_every_part_kind(store: SessionStore) -> None:
    sid = _new(store)
    history = [
        user_message("hello"),
        Message(
            "assistant",
            [
                ThinkingPart("hmm", signature="sig", source_wire="anthropic"),
                ThinkingPart("", redacted_data="opaque", source_wire="anthropic"),
                TextPart("let me look"),
                ToolCallPart("c1", "read", {"path": "a.txt", "n": [1, 2]}),
                ToolCallPart("c2", "read", {}, arguments_error="not JSON: {"),
            ],
        ),
        Message("tool", [ToolResultPart("c1", "contents é ✓"), ToolResultPart("c2", "bad args", is_error=True)]),
        Message("assistant", [TextPart("done")]),
    ]
    for message in history:
        store.append(sid, message)
    assert store.load(sid) == history


def test_seq_order_and_ids(store: SessionStore, clock: FakeClock) -> None:
    sid = _new(store)
    for i in range(12):
        store.append(sid, user_message(f"m{i}"))
    assert [m.text for m in store.load(sid)] == [f"m{i}" for i in range(12)]
    clock.now += 1
    later = _new(store)
    assert later > sid and len(later) < 24
    assert len({_new(store) for _ in range(50)}) == 50


def test_title_from_first_user_message(store: SessionStore) -> None:
    sid = _new(store)
    store.append(sid, Message("assistant", [TextPart("not a title")]))
    store.append(sid, user_message("\n  Fix the parser " + "x" * 100 + "\nsecond line"))
    store.append(sid, user_message("later message"))
    info = store.get(sid)
    assert info is not None and info.title is not None
    assert info.title.startswith("Fix the parser") and len(info.title) <= 60
    explicit = store.create("m", "p", "/w", title="given")
    store.append(explicit, user_message("ignored"))
    assert store.get(explicit).title == "given"  # type: ignore[union-attr]


def test_latest_and_list_ordering(store: SessionStore, clock: FakeClock) -> None:
    assert store.latest() is None and store.list() == []
    first = _new(store)
    clock.now += 10
    second = _new(store)
    clock.now += 10
    third = _new(store)
    clock.now += 10
    store.append(first, user_message("bump"))
    assert [s.id for s in store.list()] == [first, third, second]
    assert [s.id for s in store.list(limit=2)] == [first, third]
    latest = store.latest()
    assert latest is not None and latest.id == first
    assert latest.last_used == clock.now and latest.created_at == clock.now - 30
    assert latest.message_count == 1
    assert store.get("nope") is None


def test_repairs_trailing_unanswered_tool_call(store: SessionStore) -> None:
    sid = _new(store)
    store.append(sid, user_message("go"))
    store.append(sid, Message("assistant", [ToolCallPart("c1", "a", {}), ToolCallPart("c2", "b", {})]))
    store.append(sid, Message("tool", [ToolResultPart("c1", "ok")]))
    history = store.load(sid)
    assert [m.role for m in history] == ["user", "assistant", "tool", "tool"]
    assert history[-1].tool_results == [ToolResultPart("c2", NOT_EXECUTED, is_error=True)]
    # The repair is saved: the next load reads it back unchanged.
    assert store.get(sid).message_count == 4  # type: ignore[union-attr]
    assert store.load(sid) == history


def test_every_dangling_call_anywhere_is_answered_and_the_running_one_is_outcome_unknown(
    store: SessionStore,
) -> None:
    sid = _new(store)
    store.append(sid, user_message("go"))
    store.append(sid, Message("assistant", [ToolCallPart("early", "terminal", {"command": "make"})]))
    store.append(sid, user_message("and then?"))  # an older round left unanswered
    store.append(sid, Message("assistant", [ToolCallPart("r1", "a", {}), ToolCallPart("r2", "b", {})]))
    store.mark_running(sid, "r1")  # the process died while r1 ran
    history = store.load(sid)
    assert [m.role for m in history] == ["user", "assistant", "tool", "user", "assistant", "tool", "tool"]
    assert history[2].tool_results[0].content == NOT_EXECUTED
    assert history[5].tool_results[0].call_id == "r1" and history[5].tool_results[0].content == OUTCOME_UNKNOWN
    assert history[6].tool_results[0].call_id == "r2" and history[6].tool_results[0].content == NOT_EXECUTED


def test_orphan_tool_results_are_dropped(store: SessionStore) -> None:
    sid = _new(store)
    store.append(sid, user_message("go"))
    store.append(sid, Message("tool", [ToolResultPart("ghost", "no call before me")]))
    store.append(sid, Message("assistant", [TextPart("hello")]))
    assert [m.role for m in store.load(sid)] == ["user", "assistant"]


def test_repair_goes_before_a_following_user_message(store: SessionStore) -> None:
    sid = _new(store)
    for message in [user_message("go"), _assistant_call(), user_message("are you there?")]:
        store.append(sid, message)
    assert [m.role for m in store.load(sid)] == ["user", "assistant", "tool", "user"]


def test_repairs_unsigned_thinking(store: SessionStore) -> None:
    sid = _new(store)
    signed = ThinkingPart("old", signature="s")
    store.append(sid, user_message("q"))
    store.append(sid, Message("assistant", [signed, TextPart("a")]))
    store.append(sid, user_message("q2"))
    store.append(sid, Message("assistant", [ThinkingPart("cut off"), TextPart("partial")]))
    history = store.load(sid)
    assert history[1].parts == [signed, TextPart("a")]
    assert history[-1].parts == [TextPart("partial")]


def test_drops_assistant_empty_after_repair(store: SessionStore) -> None:
    sid = _new(store)
    store.append(sid, user_message("q"))
    store.append(sid, Message("assistant", [ThinkingPart("only unsigned thinking")]))
    assert [m.role for m in store.load(sid)] == ["user"]


def test_corrupt_rows_are_skipped(store: SessionStore, caplog: pytest.LogCaptureFixture) -> None:
    sid = _new(store)
    store.append(sid, user_message("one"))
    with _raw(store.path) as conn:
        rows = [
            (sid, 2, "user", "{not json"),
            (sid, 3, "user", '{"role": "user", "parts": [{"kind": "hologram"}]}'),
            (sid, 4, "user", '{"role": "user", "parts": [{"kind": "text", "bogus": 1}]}'),
            (sid, 5, "alien", '{"role": "alien", "parts": []}'),
            (sid, 6, "user", "[1, 2]"),
        ]
        conn.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, 0)", rows)
    store.append(sid, user_message("two"))
    with caplog.at_level(logging.WARNING, logger="agent.sessions"):
        history = store.load(sid)
    assert [m.text for m in history] == ["one", "two"]
    assert sum("skipping unreadable message" in r.message for r in caplog.records) == 5


def test_delete_last(store: SessionStore) -> None:
    sid = _new(store)
    for i in range(5):
        store.append(sid, user_message(f"m{i}"))
    store.delete_last(sid, 2)
    assert [m.text for m in store.load(sid)] == ["m0", "m1", "m2"]
    store.delete_last(sid, 0)
    store.append(sid, user_message("m3b"))
    assert [m.text for m in store.load(sid)] == ["m0", "m1", "m2", "m3b"]
    store.delete_last(sid, 99)
    assert store.load(sid) == []


def test_set_model(store: SessionStore) -> None:
    sid = _new(store)
    store.set_model(sid, "openai", "gpt-x")
    info = store.get(sid)
    assert info is not None and (info.provider, info.model) == ("openai", "gpt-x")
    with pytest.raises(SessionStoreError):
        store.set_model("missing", "a", "b")


def test_append_to_unknown_session_raises(store: SessionStore) -> None:
    with pytest.raises(SessionStoreError, match="no session"):
        store.append("missing", user_message("x"))


def test_schema_columns_are_exactly_expected(store: SessionStore) -> None:
    # Guards against a settings/headers/key column creeping in: secrets have no place here.
    with _raw(store.path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        columns = {t: {r[1] for r in conn.execute(f"PRAGMA table_info({t})")} for t in tables}
    assert columns == {
        "meta": {"key", "value"},
        "sessions": {"id", "title", "model", "provider", "workdir", "created_at", "last_used"},
        "messages": {"session_id", "seq", "role", "data", "created_at"},
        "session_state": {"session_id", "key", "value"},
    }


def test_replace_messages_and_state(store: SessionStore) -> None:
    sid = store.create("m", "p", "/w")
    for text in ("one", "two", "three"):
        store.append(sid, Message("user", [TextPart(text)]))
    store.replace_messages(sid, [Message("user", [TextPart("one")])])
    assert [m.text for m in store.load(sid)] == ["one"]
    store.append(sid, Message("user", [TextPart("again")]))
    assert [m.text for m in store.load(sid)] == ["one", "again"]
    assert store.get_state(sid, "ledger") is None
    store.set_state(sid, "ledger", {"entries": [1, 2]})
    assert store.get_state(sid, "ledger") == {"entries": [1, 2]}


def test_newer_schema_version_is_refused(tmp_path: Path) -> None:
    SessionStore(tmp_path).close()
    with _raw(tmp_path / "sessions.db") as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(SessionStoreError, match=r"newer stayline.*upgrade"):
        SessionStore(tmp_path)


def test_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "sessions.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(SessionStoreError, match="cannot open"):
        SessionStore(tmp_path)


def test_two_stores_two_threads_same_session(tmp_path: Path) -> None:
    stores = [SessionStore(tmp_path), SessionStore(tmp_path)]
    sid = _new(stores[0])

    def writer(store: SessionStore, tag: str) -> None:
        for i in range(40):
            store.append(sid, user_message(f"{tag}{i}"))

    threads = [threading.Thread(target=writer, args=(s, tag)) for s, tag in zip(stores, "ab", strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    texts = [m.text for m in stores[1].load(sid)]
    for store in stores:
        store.close()
    assert len(texts) == 80 and set(texts) == {f"{t}{i}" for t in "ab" for i in range(40)}
    assert [t for t in texts if t[0] == "a"] == [f"a{i}" for i in range(40)]


_WRITER = """
import sys
from pathlib import Path
from agent.messages import Message, TextPart, ToolCallPart, ToolResultPart, user_message
from agent.sessions import SessionStore

store = SessionStore(Path(sys.argv[1]))
sid = store.create("m", "p", "/w")
for i in range(3):
    store.append(sid, user_message(f"hello {i}"))
print(sid, flush=True)
i = 0
while True:
    i += 1
    store.append(sid, Message("assistant", [TextPart("x" * 500), ToolCallPart(f"c{i}", "t", {"i": i})]))
    store.append(sid, Message("tool", [ToolResultPart(f"c{i}", "y" * 500)]))
"""


def _stored_count(db: Path, sid: str) -> int:
    with _raw(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM messages WHERE session_id = ?", (sid,)).fetchone()[0])


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_survives_kill_9_mid_write(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_WRITER), str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        sid = proc.stdout.readline().strip()
        assert sid, "writer did not start"
        deadline = time.monotonic() + 30
        while _stored_count(tmp_path / "sessions.db", sid) < 5:
            assert time.monotonic() < deadline, "writer made no progress"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    with SessionStore(tmp_path) as store:
        history = store.load(sid)
    assert len(history) >= 5
    assert [m.text for m in history[:3]] == ["hello 0", "hello 1", "hello 2"]
    assert all(m.parts for m in history)
    # Every call is answered, whether the kill landed between the call and its result or not.
    called = [c.call_id for m in history for c in m.tool_calls]
    answered = [r.call_id for m in history for r in m.tool_results]
    assert called == answered
