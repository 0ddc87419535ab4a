"""The one connection-reset path, walked by every caller on both wires.

Each case checks at the simulator that the request after the reset came on a new TCP
connection and that the client closed the old one.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import pytest

from agent import AIAgent
from agent.testing import HttpError, ProviderSimulator, Reply, Silence, SseError, Text, ToolCall
from tests.e2e.conftest import of_kind


def assert_moved_to_new_connection(sim: ProviderSimulator, before: int, after: int) -> None:
    old = sim.requests[before].connection_id
    new = sim.requests[after].connection_id
    assert new != old, "the request after the reset reused the old connection"
    record = sim.connection(old)
    assert record is not None
    assert sim.wait_closed(old, timeout=5) is not None, "the client never closed the old connection"


CALLERS = {
    "stale": (Reply(Text("a"), Silence(30)), "stale"),
    "retry": (HttpError(503, "unavailable", headers={"retry-after": "0"}), "retry"),
    # a drop that leaves the server's side open, so only the client can close it
    "mid_tool_call_retry": (
        Reply(ToolCall("write_file", '{"path": "x.txt", "content": "ab'), SseError("Network connection lost.")),
        "mid_tool_call_retry",
    ),
}


@pytest.mark.parametrize("case", sorted(CALLERS))
def test_each_retry_caller_resets_through_the_one_path(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent], case: str
) -> None:
    failure, caller = CALLERS[case]
    sim.script(Reply(Text("warm up")), failure, Reply(Text("ok")))
    agent = make_agent(stale_timeout=1.0)
    agent.run("first")  # a pooled, reusable connection exists before the failure
    events = list(agent.stream("second"))
    assert events[-1].status == "completed"
    assert [r.caller for r in of_kind(events, "connection_reset")] == [caller]
    assert sim.requests[0].connection_id == sim.requests[1].connection_id  # keep-alive works otherwise
    assert_moved_to_new_connection(sim, 1, 2)


def test_interrupt_resets_the_connection_and_keeps_the_partial_answer(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent]
) -> None:
    sim.script(Reply(Text("Partial answer"), Silence(30)), Reply(Text("Next turn.")))
    agent = make_agent(stale_timeout=30)
    events = []
    interrupted_at = 0.0
    for event in agent.stream("long"):
        events.append(event)
        if event.kind == "text_delta":
            interrupted_at = time.monotonic()
            threading.Timer(0.05, agent.interrupt).start()
    finished = events[-1]
    assert finished.status == "interrupted"
    assert time.monotonic() - interrupted_at < 10  # far below the 30 s silence (bench/ measures the 0.5 s)
    assert [r.caller for r in of_kind(events, "connection_reset")] == ["interrupt"]
    assert agent.history[-1].text == "Partial answer"
    result = agent.run("go on")
    assert result.status == "completed"
    assert sim.requests[1].rejected is None
    assert_moved_to_new_connection(sim, 0, 1)


def test_interrupt_during_backoff_sleep(sim: ProviderSimulator, make_agent: Callable[..., AIAgent]) -> None:
    sim.script(HttpError(429, "slow down", headers={"retry-after": "60"}))
    agent = make_agent()
    started = time.monotonic()
    timers = []
    for event in agent.stream("hi"):
        if event.kind == "retrying":  # the 60 s backoff is about to start: interrupt inside it
            timers.append(threading.Timer(0.3, agent.interrupt))
            timers[-1].start()
    assert agent.last_result is not None and agent.last_result.status == "interrupted"
    assert time.monotonic() - started < 30  # far below the 60 s the server asked for
    assert len(sim.requests) == 1 and len(timers) == 1


def test_one_wire_never_builds_the_other_wires_client(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent], wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    import anthropic
    import openai

    other = openai.OpenAI if wire.name == "anthropic" else anthropic.Anthropic

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"{other.__name__} was constructed on the {wire.name} wire")

    monkeypatch.setattr(other, "__init__", refuse)
    sim.script(Reply(Text("a"), Silence(30)), Reply(Text("ok")))
    agent = make_agent(stale_timeout=1.0)
    assert agent.run("hi").status == "completed"
    agent.interrupt()
    agent.close()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _stream_threads() -> int:
    """The agent's stream workers still alive (the simulator's threads are not counted)."""
    return sum(1 for t in threading.enumerate() if t.name.startswith("stayline-stream-"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_a_hundred_stalls_leave_no_thread_socket_or_fd(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent]
) -> None:
    sim.behaviour(lambda request: Reply(Silence(30)))
    agent = make_agent(stale_timeout=0.05, max_retries=9)
    agent.run("warm up")  # imports, pools and the like settle first
    threads_before = _stream_threads()
    fds_before = _open_fds()
    stalls = 0
    while stalls < 100:
        result = agent.run("stall")
        stalls += result.counts.get("stalled", 0)
    assert result.status == "failed"
    # The simulator's side lives in this process too and lets go of its sockets on its own
    # schedule; a loaded machine may take a while, so the wait is generous (not a speed test).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (_stream_threads() > threads_before or _open_fds() > fds_before):
        time.sleep(0.05)
    assert _stream_threads() <= threads_before
    assert _open_fds() <= fds_before


def test_closing_the_event_stream_early_stops_the_provider_stream(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent]
) -> None:
    sim.script(Reply(Text("Hello"), Silence(30)))
    agent = make_agent(stale_timeout=30)
    events = agent.stream("hi")
    for event in events:
        if event.kind == "text_delta":
            break
    events.close()  # an embedding app stops reading
    assert sim.wait_closed(sim.requests[0].connection_id, timeout=5) is not None
