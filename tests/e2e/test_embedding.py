"""AIAgent as a library: several agents in one process, interrupts from other threads,
asyncio, custom tools, seeded history and releasing connections. Both wires, through the
real SDKs and the provider simulator (and ScriptedProvider where the wire is beside the
point). Time bounds are generous: they tell "stopped promptly" from "ran to the end"."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

from agent import AgentEvent, AgentResult, AIAgent, Message, Retrying, TextPart, TurnFinished, tool
from agent.testing import (
    HttpError,
    Pace,
    ProviderSimulator,
    RecordedRequest,
    Reply,
    ScriptedProvider,
    ScriptedReply,
    Silence,
    Text,
    ToolCall,
)
from tests.e2e.conftest import WireSetup, kinds, of_kind

PROMPT_RE = re.compile(r"(agent-[AB]) turn (\d+)")


def last_user_text(request: RecordedRequest) -> str:
    return json.dumps(request.body["messages"][-1])


def turn_finished(events: list[AgentEvent]) -> TurnFinished:
    last = events[-1]
    assert isinstance(last, TurnFinished), last
    return last


def conversation(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, text) of the user and assistant messages of a request, on either wire."""
    out = []
    for message in body["messages"]:
        if message["role"] not in ("user", "assistant"):
            continue
        content = message.get("content") or ""
        if isinstance(content, list):
            content = "".join(block.get("text", "") for block in content if isinstance(block, dict))
        out.append((message["role"], content))
    return out


# -- several agents, one process ------------------------------------------------------------
def test_two_agents_in_two_threads_share_nothing(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent], tmp_path: Path
) -> None:
    def answer(request: RecordedRequest) -> Reply:
        match = PROMPT_RE.search(last_user_text(request))
        assert match is not None, last_user_text(request)
        who, turn = match.groups()
        return Reply(Pace(0.01), Text(f"reply to {who} turn {turn}", chunk=3))  # slow enough to overlap

    sim.behaviour(answer)
    names = ("agent-A", "agent-B")
    agents = {}
    for name in names:
        (tmp_path / name).mkdir()
        agents[name] = make_agent(workdir=tmp_path / name, tools=[])
    results: dict[str, list[AgentResult]] = {name: [] for name in names}
    errors: list[BaseException] = []
    start = threading.Barrier(len(names))

    def converse(name: str) -> None:
        try:
            start.wait(10)
            for turn in range(3):
                results[name].append(agents[name].run(f"{name} turn {turn}: say something"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=converse, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors and not any(thread.is_alive() for thread in threads)

    connections: dict[str, set[int]] = {}
    for name, other in (names, names[::-1]):
        agent = agents[name]
        assert [r.status for r in results[name]] == ["completed"] * 3
        assert [r.final_text for r in results[name]] == [f"reply to {name} turn {t}" for t in range(3)]
        assert agent.last_result is results[name][-1]
        assert agent.total_usage["api_calls"] == 3
        assert len(agent.history) == 6
        assert other not in json.dumps([m.to_dict() for m in agent.history])
        own = [r for r in sim.requests if name in last_user_text(r)]
        assert len(own) == 3
        for request in own:  # every request carried this agent's conversation only
            assert request.rejected is None and other not in json.dumps(request.body)
        connections[name] = {r.connection_id for r in own}
    assert connections["agent-A"].isdisjoint(connections["agent-B"])


# -- interrupt() from another thread ------------------------------------------------------
def interrupt_when(agent: AIAgent, ready: threading.Event, at: list[float], delay: float = 0.2) -> threading.Thread:
    """A thread that interrupts ``agent`` ``delay`` seconds after ``ready`` is set."""

    def run() -> None:
        if ready.wait(30):
            time.sleep(delay)
            at.append(time.monotonic())
            agent.interrupt()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_interrupt_from_another_thread_during_a_silent_stream(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent]
) -> None:
    sim.script(Reply(Text("Partial"), Silence(30)), Reply(Text("Next.")))
    agent = make_agent(stale_timeout=30)
    streaming, interrupted_at = threading.Event(), list[float]()
    interrupter = interrupt_when(agent, streaming, interrupted_at)
    events: list[AgentEvent] = []
    for event in agent.stream("write a long answer"):
        events.append(event)
        if event.kind == "text_delta":
            streaming.set()  # the model has started, and now goes silent
    returned_at = time.monotonic()
    interrupter.join(5)
    assert turn_finished(events).status == "interrupted"
    assert interrupted_at and returned_at - interrupted_at[0] < 5  # not the 30 s of silence
    assert agent.history[-1].text == "Partial"  # what was shown is kept
    assert sim.wait_closed(sim.requests[0].connection_id, timeout=10) is not None
    assert agent.run("go on").status == "completed"  # the agent is ready for the next turn


def test_interrupt_from_another_thread_during_a_backoff_sleep(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent]
) -> None:
    sim.script(HttpError(429, "rate limited", headers={"retry-after": "30"}))
    agent = make_agent()
    sleeping, interrupted_at = threading.Event(), list[float]()
    interrupter = interrupt_when(agent, sleeping, interrupted_at)
    events: list[AgentEvent] = []
    for event in agent.stream("hi"):
        events.append(event)
        if isinstance(event, Retrying):
            sleeping.set()  # the agent now waits 30 s before the next attempt
    returned_at = time.monotonic()
    interrupter.join(5)
    retrying = of_kind(events, "retrying")
    assert len(retrying) == 1 and retrying[0].delay >= 29
    assert turn_finished(events).status == "interrupted"
    assert interrupted_at and returned_at - interrupted_at[0] < 5
    assert len(sim.requests) == 1  # no second attempt after the interrupt


# -- asyncio ------------------------------------------------------------------------------
async def test_arun_leaves_the_event_loop_free(sim: ProviderSimulator, make_agent: Callable[..., AIAgent]) -> None:
    sim.script(Reply(Text("Thinking"), Silence(1.5), Text(" done.")))
    agent = make_agent()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    try:
        result = await asyncio.wait_for(agent.arun("think about it"), 60)
    finally:
        ticking.cancel()
    assert result.status == "completed" and result.final_text == "Thinking done."
    # 1.5 s of silence is ~150 ticks when the loop is free and none when a call blocks it
    assert ticks >= 20


async def test_astream_yields_the_same_event_kinds_as_stream(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent]
) -> None:
    turn = (Reply(Text("Looking.", chunk=3), ToolCall("list_dir", {})), Reply(Text("Nothing here.", chunk=4)))
    sim.script(*turn, *turn)
    agent = make_agent()
    in_threads = list(agent.stream("what is here?"))
    in_asyncio = [event async for event in agent.astream("and now?")]
    assert agent.last_result is not None and agent.last_result.status == "completed"
    assert [e for e in kinds(in_asyncio) if e != "waiting"] == [e for e in kinds(in_threads) if e != "waiting"]
    assert {"text_delta", "tool_call_started", "tool_call_finished", "turn_finished"} <= set(kinds(in_asyncio))
    assert [type(e) for e in in_asyncio if e.kind != "waiting"] == [type(e) for e in in_threads if e.kind != "waiting"]


async def test_cancelling_the_astream_consumer_interrupts_the_turn(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent]
) -> None:
    sim.script(Reply(Text("Hello"), Silence(30)), Reply(Text("Again.")))
    agent = make_agent(stale_timeout=30)
    started = asyncio.Event()

    async def consume() -> None:
        async for event in agent.astream("a long answer please"):
            if event.kind == "text_delta":
                started.set()

    consumer = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), 30)
    cancelled_at = time.monotonic()
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    assert time.monotonic() - cancelled_at < 5  # the turn ended; it did not wait out the silence
    assert agent.last_result is not None and agent.last_result.status == "interrupted"
    closed = await asyncio.to_thread(sim.wait_closed, sim.requests[0].connection_id, 10)
    assert closed is not None
    result = await asyncio.wait_for(agent.arun("again"), 60)  # the turn lock was released
    assert result.status == "completed"


# -- tools ----------------------------------------------------------------------------------
@tool
def explode(reason: str) -> str:
    """A tool with a bug.

    Args:
        reason: What to complain about.
    """
    raise RuntimeError(f"boom: {reason}")


def test_a_tool_that_raises_becomes_an_error_result(sim: ProviderSimulator, make_agent: Callable[..., AIAgent]) -> None:
    sim.script(Reply(ToolCall("explode", {"reason": "testing"})), Reply(Text("The tool failed; carrying on.")))
    events = list(make_agent(tools=[explode]).stream("go"))
    finished = of_kind(events, "tool_call_finished")
    assert len(finished) == 1 and finished[0].is_error
    finished_turn = turn_finished(events)
    assert finished_turn.status == "completed" and finished_turn.final_text == "The tool failed; carrying on."
    assert sim.requests[1].rejected is None
    assert "RuntimeError: boom: testing" in json.dumps(sim.requests[1].body["messages"])


@dataclass
class Parcel:
    """A parcel to send.

    Args:
        destination: The city.
        weight_kg: The weight in kilograms.
        speed: How fast it must arrive.
    """

    destination: str
    weight_kg: float
    speed: Literal["standard", "express"] = "standard"


def test_literal_and_dataclass_arguments_round_trip_through_a_turn(tmp_path: Path) -> None:
    received: list[tuple[Parcel, str, bool]] = []

    @tool
    def ship(parcel: Parcel, carrier: Literal["post", "courier"], insured: bool = False) -> dict[str, Any]:
        """Send a parcel.

        Args:
            parcel: What to send where.
            carrier: Who carries it.
            insured: Whether to insure it.
        """
        received.append((parcel, carrier, insured))
        return {"tracking": "TRK-1", "carrier": carrier}

    arguments: dict[str, Any] = {
        "parcel": {"destination": "Oslo", "weight_kg": 2, "speed": "express"},
        "carrier": "courier",
    }
    provider = ScriptedProvider(
        [
            ScriptedReply("Shipping.", tool_calls=[("ship", arguments)]),
            ScriptedReply(tool_calls=[("ship", {**arguments, "carrier": "pigeon"})]),
            "Shipped: TRK-1.",
        ]
    )
    # The ignore: ScriptedProvider.max_output_tokens is "int | None", the Provider protocol says "int".
    with AIAgent(provider=provider, tools=[ship], workdir=tmp_path) as agent:  # type: ignore[arg-type]
        result = agent.run("send 2 kg to Oslo, fast")
    assert result.status == "completed" and result.final_text == "Shipped: TRK-1."
    provider.assert_complete()
    assert received == [(Parcel("Oslo", 2.0, "express"), "courier", False)]  # the bad call never ran
    assert isinstance(received[0][1], str) and isinstance(received[0][0].weight_kg, float)
    schema = provider.requests[0].tools[0].schema
    assert schema["properties"]["carrier"]["enum"] == ["post", "courier"]
    assert schema["properties"]["parcel"]["properties"]["speed"]["enum"] == ["standard", "express"]
    assert schema["required"] == ["parcel", "carrier"]
    good = provider.requests[1].messages[-1].tool_results[0]
    assert not good.is_error and json.loads(good.content) == {"tracking": "TRK-1", "carrier": "courier"}
    bad = provider.requests[2].messages[-1].tool_results[0]
    assert bad.is_error and "carrier" in bad.content


# -- history and connections --------------------------------------------------------------
def test_a_seeded_history_is_sent_with_the_first_request(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent]
) -> None:
    seed = [Message("user", [TextPart("My name is Ada.")]), Message("assistant", [TextPart("Hello, Ada.")])]
    sim.script(Reply(Text("Your name is Ada.")))
    agent = make_agent(history=seed)
    assert agent.run("What is my name?").final_text == "Your name is Ada."
    assert sim.requests[0].rejected is None
    assert conversation(sim.requests[0].body) == [
        ("user", "My name is Ada."),
        ("assistant", "Hello, Ada."),
        ("user", "What is my name?"),
    ]
    assert agent.history[:2] == seed and len(agent.history) == 4
    assert len(seed) == 2  # the agent copied the list, it did not append to it


def test_close_releases_the_connections(sim: ProviderSimulator, make_agent: Callable[..., AIAgent]) -> None:
    sim.script(Reply(Text("Hi.")))
    agent = make_agent()
    agent.run("hi")
    connection = sim.requests[0].connection_id
    assert sim.wait_closed(connection, timeout=0.3) is None  # kept alive for the next call
    agent.close()
    assert sim.wait_closed(connection, timeout=10) is not None


def test_the_with_block_releases_the_connections(sim: ProviderSimulator, wire: WireSetup, tmp_path: Path) -> None:
    sim.script(Reply(Text("Hi.")))
    options: dict[str, Any] = {
        "provider": wire.provider,
        "model": wire.model,
        "base_url": wire.url(sim),
        "api_key": "test-key",
    }
    with AIAgent(**options, workdir=tmp_path, tools=[]) as agent:
        assert agent.run("hi").status == "completed"
        connection = sim.requests[0].connection_id
    assert sim.wait_closed(connection, timeout=10) is not None


def test_the_with_block_closes_a_provider_instance(tmp_path: Path) -> None:
    provider = ScriptedProvider(["Hi."])
    with AIAgent(provider=provider, tools=[], workdir=tmp_path) as agent:  # type: ignore[arg-type]
        assert agent.run("hi").final_text == "Hi."
        assert not provider.closed
    assert provider.closed
