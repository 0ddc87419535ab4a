"""How to test an app built on AIAgent without keys or network: the TODO app of
``custom_tool.py`` under pytest.

    pytest examples/test_my_app.py

Two test doubles, both in ``agent.testing``:

- ``ScriptedProvider`` replaces the provider in-process: each model call takes the next
  scripted reply. Fast; for testing your tools and your app's logic.
- ``ProviderSimulator`` is a real HTTP server on 127.0.0.1 speaking the Anthropic and
  OpenAI wires through the real SDKs, with faults on demand (stalls, dropped streams,
  rate limits). For testing what your users will see when a provider misbehaves.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import custom_tool  # pytest puts this file's directory on sys.path
import pytest

from agent import AIAgent
from agent.providers.base import ModelRequest
from agent.testing import HttpError, ProviderSimulator, Reply, ScriptedProvider, ScriptedReply, Silence, Text, ToolCall


def tasks_in(workdir: Path) -> list[dict[str, object]]:
    data: list[dict[str, object]] = json.loads((workdir / "todo.json").read_text())
    return data


# -- ScriptedProvider: the model's side of the conversation, written down ------------------
def test_the_model_adds_a_task(tmp_path: Path) -> None:
    provider = ScriptedProvider(
        [
            ScriptedReply(tool_calls=[("add_task", {"task": {"title": "water the plants", "priority": "high"}})]),
            "Added it, marked high priority.",
        ]
    )
    with custom_tool.make_agent(provider=provider, workdir=tmp_path) as agent:
        result = agent.run("Remind me to water the plants, it's urgent")
    assert result.status == "completed"
    assert result.final_text == "Added it, marked high priority."
    assert tasks_in(tmp_path) == [{"title": "water the plants", "priority": "high", "done": False}]
    # what the app sent the model: its tools, and the tool's answer on the second call
    assert [spec.name for spec in provider.requests[0].tools] == ["add_task", "complete_task", "list_tasks"]
    assert provider.requests[1].messages[-1].tool_results[0].content == "added 'water the plants' (high)"
    provider.assert_complete()  # the app made exactly the model calls the script planned


def test_a_tool_error_goes_back_to_the_model(tmp_path: Path) -> None:
    provider = ScriptedProvider(
        [ScriptedReply(tool_calls=[("complete_task", {"title": "nothing"})]), "There is no such task."]
    )
    with custom_tool.make_agent(provider=provider, workdir=tmp_path) as agent:
        result = agent.run("I finished 'nothing'")
    assert result.status == "completed"  # a failing tool does not end the turn
    answer = provider.requests[1].messages[-1].tool_results[0]
    assert answer.is_error and "no task called 'nothing'" in answer.content


def test_a_reply_can_depend_on_the_request(tmp_path: Path) -> None:
    (tmp_path / "todo.json").write_text(json.dumps([{"title": "call mum", "priority": "low", "done": False}]))

    def answer(request: ModelRequest) -> ScriptedReply:
        listed = request.messages[-1].tool_results[0].content
        return ScriptedReply(f"You have {len(json.loads(listed))} open task.")

    provider = ScriptedProvider([ScriptedReply(tool_calls=[("list_tasks", {})]), answer])
    with custom_tool.make_agent(provider=provider, workdir=tmp_path) as agent:
        assert agent.run("What's left?").final_text == "You have 1 open task."


def test_a_stalled_model_call_is_retried(tmp_path: Path) -> None:
    release = threading.Event()

    def stall(request: ModelRequest) -> ScriptedReply:
        release.wait(30)  # the model says nothing...
        return ScriptedReply("too late")

    provider = ScriptedProvider([stall, "Nothing on the list."])  # ...so the retry answers
    with custom_tool.make_agent(provider=provider, workdir=tmp_path, stale_timeout=0.5) as agent:
        result = agent.run("What's on my list?")
    release.set()
    assert result.status == "completed" and result.final_text == "Nothing on the list."
    assert result.counts["stalled"] == 1 and result.counts["retrying"] == 1


# -- ProviderSimulator: the real SDKs over a real socket, with faults ----------------------
@pytest.fixture
def sim() -> Iterator[ProviderSimulator]:
    with ProviderSimulator() as simulator:
        yield simulator


def simulated_agent(sim: ProviderSimulator, workdir: Path, **options: object) -> AIAgent:
    return custom_tool.make_agent(
        provider="anthropic", base_url=sim.base_url, api_key="test", workdir=workdir, **options
    )


def test_a_stall_mid_reply_is_retried_on_a_fresh_connection(sim: ProviderSimulator, tmp_path: Path) -> None:
    sim.script(
        Reply(Text("Adding it"), Silence(30)),  # the stream goes quiet after a few words...
        Reply(ToolCall("add_task", {"task": {"title": "buy milk"}})),  # ...the retry gets through
        Reply(Text("Added.")),
    )
    with simulated_agent(sim, tmp_path, stale_timeout=1) as agent:
        result = agent.run("Add buy milk")
    assert result.status == "completed"
    assert tasks_in(tmp_path) == [{"title": "buy milk", "priority": "normal", "done": False}]
    assert result.counts["stalled"] == 1
    first, retry = sim.requests[0], sim.requests[1]
    assert retry.connection_id != first.connection_id  # the stalled connection was dropped
    assert sim.wait_closed(first.connection_id) is not None


def test_a_rate_limit_is_waited_out(sim: ProviderSimulator, tmp_path: Path) -> None:
    sim.script(HttpError(429, "slow down", headers={"retry-after": "0.2"}), Reply(Text("Your list is empty.")))
    with simulated_agent(sim, tmp_path) as agent:
        result = agent.run("What's on my list?")
    assert result.status == "completed" and result.counts["retrying"] == 1
    assert all(request.rejected is None for request in sim.requests)  # requests valid for the real API


def test_the_entry_point_against_the_simulator(
    sim: ProviderSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.script(Reply(Text("Your list is empty.")))
    status = custom_tool.main("What's on my list?", base_url=sim.openai_base_url, model="any-model", workdir=tmp_path)
    assert status == 0
    assert capsys.readouterr().out == "status: completed\nYour list is empty.\n"
    assert sim.requests[0].body["model"] == "any-model"
