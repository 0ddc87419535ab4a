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
    assert time.monotonic() - interrupted_at < 0.5 + 0.5  # half a second, with margin for the timer
    assert [r.caller for r in of_kind(events, "connection_reset")] == ["interrupt"]
    assert agent.history[-1].text == "Partial answer"
    result = agent.run("go on")
    assert result.status == "completed"
    assert sim.requests[1].rejected is None
    assert_moved_to_new_connection(sim, 0, 1)


def test_interrupt_during_backoff_sleep(sim: ProviderSimulator, make_agent: Callable[..., AIAgent]) -> None:
    sim.script(HttpError(429, "slow down", headers={"retry-after": "60"}))
    agent = make_agent()
    timer = threading.Timer(0.3, agent.interrupt)
    timer.start()
    started = time.monotonic()
    result = agent.run("hi")
    assert result.status == "interrupted"
    assert time.monotonic() - started < 5
    assert len(sim.requests) == 1


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


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_a_hundred_stalls_leave_no_thread_socket_or_fd(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent]
) -> None:
    sim.behaviour(lambda request: Reply(Silence(30)))
    agent = make_agent(stale_timeout=0.05, max_retries=9)
    agent.run("warm up")  # imports, pools and the like settle first
    threads_before = threading.active_count()
    fds_before = _open_fds()
    stalls = 0
    while stalls < 100:
        result = agent.run("stall")
        stalls += result.counts.get("stalled", 0)
    assert result.status == "failed"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (threading.active_count() > threads_before or _open_fds() > fds_before):
        time.sleep(0.05)
    assert threading.active_count() <= threads_before
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
