"""Stalls, drops and errors end to end: real SDKs, real sockets, second-scale limits."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from agent import AIAgent
from agent.testing import (
    Disconnect,
    HttpError,
    KeepAlives,
    Pace,
    ProviderSimulator,
    Reply,
    Reset,
    Silence,
    SseError,
    Text,
    ToolCall,
)
from tests.e2e.conftest import WireSetup, of_kind

STALE = 1.0  # seconds: small limits keep the suite fast; margins below stay generous


def fresh_connections(sim: ProviderSimulator, upto: int = 2) -> bool:
    """The first ``upto`` requests (a failure and its retries) each came on a new connection."""
    ids = [r.connection_id for r in sim.requests[:upto]]
    return len(set(ids)) == len(ids)


def test_stall_before_first_byte_is_retried_on_a_fresh_connection(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent]
) -> None:
    sim.script(Reply(Silence(30), Text("never")), Reply(Text("Recovered.")))
    events = list(make_agent(stale_timeout=STALE).stream("hi"))
    finished = events[-1]
    assert finished.status == "completed" and finished.final_text == "Recovered."
    (stalled,) = of_kind(events, "stalled")
    assert stalled.phase == "first_delta"
    (reset,) = of_kind(events, "connection_reset")
    assert reset.caller == "stale" and reset.ok
    assert len(sim.requests) == 2 and fresh_connections(sim)


def test_stalled_connection_is_closed_within_a_second_of_detection(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent]
) -> None:
    sim.script(Reply(Text("Hello "), Silence(30)), Reply(Text("world.")))
    agent = make_agent(stale_timeout=STALE)
    detected_at = None
    for event in agent.stream("hi"):
        if event.kind == "stalled":
            detected_at = time.monotonic()
    assert detected_at is not None
    first = sim.requests[0].connection_id
    closed_at = sim.wait_closed(first, timeout=5)
    assert closed_at is not None
    assert closed_at - detected_at < 5.0  # not the end of the 30 s silence: the client closed it


def test_stall_after_text_continues_without_repeating(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent]
) -> None:
    sim.script(Reply(Text("Hello ", chunk=2), Silence(30)), Reply(Text("world.")))
    events = list(make_agent(stale_timeout=STALE).stream("greet"))
    finished = events[-1]
    assert finished.status == "completed"
    assert finished.final_text == "Hello world."
    assert "".join(e.text for e in of_kind(events, "text_delta")) == "Hello world."
    assert len(of_kind(events, "continuing")) == 1
    retry = sim.requests[1]
    assert retry.rejected is None  # the continuation is valid on the wire (no trailing whitespace)
    assert "Hello" in str(retry.body["messages"])


def test_stall_mid_tool_arguments_never_executes_half_a_call(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent], tmp_path: Path
) -> None:
    sim.script(
        Reply(ToolCall("write_file", '{"path": "out.txt", "content": "partial'), Silence(30)),
        Reply(ToolCall("write_file", {"path": "out.txt", "content": "whole"})),
        Reply(Text("Written.")),
    )
    events = list(make_agent(stale_timeout=STALE).stream("write"))
    assert events[-1].status == "completed"
    assert (tmp_path / "out.txt").read_text() == "whole"
    started = of_kind(events, "tool_call_started")
    assert len(started) == 1  # the cut call was never executed
    resets = of_kind(events, "connection_reset")
    assert [r.caller for r in resets] == ["stale"]
    assert fresh_connections(sim) and all(r.rejected is None for r in sim.requests)


def test_keep_alives_without_progress_are_caught(sim: ProviderSimulator, make_agent: Callable[..., AIAgent]) -> None:
    sim.script(Reply(Text("Thinking"), KeepAlives(30, every=0.2)), Reply(Text("Done.")))
    events = list(make_agent(stale_timeout=STALE).stream("hi"))
    assert events[-1].status == "completed"
    assert len(of_kind(events, "stalled")) == 1
    assert sim.wait_closed(sim.requests[0].connection_id, timeout=5) is not None


def test_slow_but_steady_stream_is_not_killed(sim: ProviderSimulator, make_agent: Callable[..., AIAgent]) -> None:
    sim.script(Reply(Pace(0.1), Text("x" * 20, chunk=1)))
    events = list(make_agent(stale_timeout=0.5).stream("slowly"))
    assert events[-1].status == "completed" and events[-1].final_text == "x" * 20
    assert of_kind(events, "stalled") == []
    assert len(sim.requests) == 1


def test_abrupt_reset_mid_stream_is_retried(sim: ProviderSimulator, make_agent: Callable[..., AIAgent]) -> None:
    sim.script(Reply(Text("Par"), Reset()), Reply(Text("tial answer.")))
    events = list(make_agent().stream("hi"))
    assert events[-1].status == "completed" and events[-1].final_text == "Partial answer."
    (retry,) = of_kind(events, "retrying")
    assert retry.delay == 0
    assert [r.caller for r in of_kind(events, "connection_reset")] == ["retry"]
    assert fresh_connections(sim)


def test_incomplete_chunked_body_is_retried(sim: ProviderSimulator, make_agent: Callable[..., AIAgent]) -> None:
    sim.script(Reply(Disconnect()), Reply(Text("ok")))
    result = make_agent().run("hi")
    assert result.status == "completed" and result.final_text == "ok"
    assert len(sim.requests) == 2 and fresh_connections(sim)


def test_network_connection_lost_event_is_retried(sim: ProviderSimulator, make_agent: Callable[..., AIAgent]) -> None:
    sim.script(Reply(Text("Hel"), SseError("Network connection lost.", code=502)), Reply(Text("lo.")))
    events = list(make_agent().stream("hi"))
    assert events[-1].status == "completed" and events[-1].final_text == "Hello."
    (retry,) = of_kind(events, "retrying")
    assert retry.delay == 0 and "Network connection lost." in retry.reason
    assert fresh_connections(sim)


def test_overloaded_event_backs_off_then_succeeds(sim: ProviderSimulator, make_agent: Callable[..., AIAgent]) -> None:
    sim.script(Reply(SseError("Overloaded", type="overloaded_error", code=529)), Reply(Text("ok")))
    events = list(make_agent().stream("hi"))
    assert events[-1].status == "completed"
    (retry,) = of_kind(events, "retrying")
    assert 0.5 <= retry.delay <= 1.0  # first backoff: 1 s with jitter


def test_429_honours_retry_after(sim: ProviderSimulator, make_agent: Callable[..., AIAgent]) -> None:
    sim.script(HttpError(429, "rate limited", headers={"retry-after": "0.3"}), Reply(Text("ok")))
    started = time.monotonic()
    events = list(make_agent().stream("hi"))
    assert events[-1].status == "completed"
    (retry,) = of_kind(events, "retrying")
    assert retry.delay == 0.3
    assert time.monotonic() - started >= 0.3
    assert fresh_connections(sim)


def test_401_is_not_retried_and_says_what_to_do(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent], wire: WireSetup
) -> None:
    sim.script(HttpError(401, "invalid x-api-key"))
    result = make_agent().run("hi")
    assert result.status == "failed" and len(sim.requests) == 1
    assert result.error is not None and "API key" in result.error and "401" in result.error


def test_non_connection_sse_error_is_not_retried(sim: ProviderSimulator, make_agent: Callable[..., AIAgent]) -> None:
    sim.script(Reply(Text("Hi"), SseError("Invalid request: tool schema", type="invalid_request_error", code=400)))
    result = make_agent().run("hi")
    assert result.status == "failed" and len(sim.requests) == 1
    assert result.error is not None and "tool schema" in result.error
    assert result.final_text == "Hi"  # the partial text is kept


def test_budget_spent_on_stalls_gives_an_actionable_error(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent]
) -> None:
    sim.behaviour(lambda request: Reply(Silence(30)))
    result = make_agent(stale_timeout=0.5).run("hi")
    assert result.status == "failed"
    assert len(sim.requests) == 3  # three attempts by default
    assert result.error is not None
    assert "sent nothing for" in result.error and "three times" in result.error
    assert "--stale-timeout" in result.error and "--fallback" in result.error
    assert fresh_connections(sim, upto=3)


def test_max_retries_bounds_the_attempts(sim: ProviderSimulator, make_agent: Callable[..., AIAgent]) -> None:
    sim.behaviour(lambda request: Reply(Reset()))
    result = make_agent(max_retries=4).run("hi")
    assert result.status == "failed" and len(sim.requests) == 5


def test_non_streaming_call_gets_a_total_time_limit_through_the_same_kill_path(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent]
) -> None:
    from agent.config import Settings

    sim.script(Reply(Silence(30), Text("late")), Reply(Text("On time.")))
    agent = make_agent(settings=Settings(stream=False), stale_timeout=STALE)
    events = list(agent.stream("hi"))
    assert events[-1].status == "completed" and events[-1].final_text == "On time."
    (stalled,) = of_kind(events, "stalled")
    assert stalled.phase == "total"
    assert [r.caller for r in of_kind(events, "connection_reset")] == ["stale"]
    assert sim.requests[0].body.get("stream") in (None, False)
    assert sim.wait_closed(sim.requests[0].connection_id, timeout=5) is not None


def test_malformed_stream_gives_a_clear_error_and_loses_nothing(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent]
) -> None:
    from agent.testing import RawSSE

    sim.behaviour(lambda request: RawSSE(b"data: {not json at all\n\n"))
    agent = make_agent()
    result = agent.run("hi")
    assert result.status == "failed"
    assert result.error is not None and "not JSON" in result.error
    assert [m.text for m in agent.history] == ["hi"]
    sim.reset_script()
    sim.script(Reply(Text("Fine now.")))
    assert agent.run("again").status == "completed"
    assert sim.requests[-1].rejected is None
