"""A session write that fails (issue 10, point 4): the write rolls back, the caller gets a
typed SessionWriteError with an actionable message, and the conversation in memory
never holds a tool call without its result."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from agent import AIAgent
from agent.errors import SessionWriteError
from agent.sessions import DB_NAME
from agent.testing import ProviderSimulator, Reply, Text, ToolCall


@contextmanager
def locked(home: Path) -> Iterator[None]:
    """Another process holding the database's write lock (a real way writes fail)."""
    conn = sqlite3.connect(home / DB_NAME, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def test_a_failed_write_raises_a_typed_error_and_memory_stays_valid(sim: ProviderSimulator, tmp_path: Path) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    sim.script(Reply(Text("First.")), Reply(Text("Second.")))
    agent = AIAgent(
        provider="anthropic",
        model="claude-sonnet-4-6",
        base_url=sim.base_url,
        api_key="k",
        workdir=work,
        session="new",
        session_home=home,
    )
    with agent:
        assert agent.run("one").final_text == "First."
        before = agent.history
        with locked(home), pytest.raises(SessionWriteError, match="could not save the conversation"):
            agent.run("two")
        assert agent.history == before  # the refused user message is not in memory either
        assert agent.run("two").final_text == "Second."  # the store works again: so does the agent


def test_memory_never_holds_a_call_without_its_result_when_a_result_cannot_be_saved(
    sim: ProviderSimulator, tmp_path: Path
) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    held: list[object] = []

    def take_the_lock_while_the_tool_runs(request: object) -> Reply:
        return Reply(ToolCall("write_file", {"path": "a.txt", "content": "A"}), ToolCall("list_dir", {}))

    sim.script(take_the_lock_while_the_tool_runs)
    agent = AIAgent(
        provider="anthropic",
        model="claude-sonnet-4-6",
        base_url=sim.base_url,
        api_key="k",
        workdir=work,
        session="new",
        session_home=home,
        approve=lambda tool, action: True,
    )
    with agent:
        events = agent.stream("write")
        with pytest.raises(SessionWriteError):
            for event in events:
                if event.kind == "tool_call_started" and not held:
                    lock = locked(home)
                    lock.__enter__()
                    held.append(lock)
        for lock in held:
            lock.__exit__(None, None, None)  # type: ignore[attr-defined]
        calls = [c.call_id for m in agent.history for c in m.tool_calls]
        results = [r.call_id for m in agent.history for r in m.tool_results]
        assert len(calls) == 2 and sorted(calls) == sorted(results)


def test_single_shot_says_what_happened_without_a_traceback(sim: ProviderSimulator, tmp_path: Path) -> None:
    import io
    import json

    from agent.cli.oneshot import run_single

    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    with AIAgent(
        provider="anthropic",
        model="claude-sonnet-4-6",
        base_url=sim.base_url,
        api_key="k",
        workdir=work,
        session="new",
        session_home=home,
    ) as agent:
        out, err = io.StringIO(), io.StringIO()
        with locked(home):
            code = run_single(agent, "hello", json_mode=True, out=out, err=err)
    assert code == 1
    assert "stayline: error: could not save the conversation" in err.getvalue()
    value = json.loads(out.getvalue())
    assert value["status"] == "failed" and "could not save" in value["error"]
