"""The turn loop end to end on both wires: answers, tools, multi-step work, cuts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from agent import AIAgent
from agent.testing import EndBody, ProviderSimulator, Reply, Text, ToolCall
from tests.e2e.conftest import WireSetup, of_kind


def test_plain_answer(sim: ProviderSimulator, make_agent: Callable[..., AIAgent]) -> None:
    sim.script(Reply(Text("Hello there!", chunk=4)))
    events = list(make_agent().stream("hi"))
    finished = events[-1]
    assert finished.kind == "turn_finished" and finished.status == "completed"
    assert finished.final_text == "Hello there!"
    assert "".join(e.text for e in of_kind(events, "text_delta")) == "Hello there!"
    assert len(sim.requests) == 1 and sim.requests[0].rejected is None


def test_one_tool_call(sim: ProviderSimulator, make_agent: Callable[..., AIAgent], tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("alpha\nbeta\n")
    sim.script(Reply(ToolCall("read_file", {"path": "notes.txt"}, chunk=7)), Reply(Text("It has two lines.")))
    result = make_agent().run("what is in notes.txt?")
    assert result.status == "completed" and result.final_text == "It has two lines."
    second = sim.requests[1]
    assert second.rejected is None
    assert "alpha" in str(second.body["messages"])  # the tool result went back to the model


def test_two_tool_calls_in_one_reply(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent], tmp_path: Path
) -> None:
    sim.script(
        Reply(
            ToolCall("write_file", {"path": "a.txt", "content": "A"}),
            ToolCall("write_file", {"path": "b.txt", "content": "B"}),
        ),
        Reply(Text("Both written.")),
    )
    result = make_agent().run("write two files")
    assert result.status == "completed"
    assert (tmp_path / "a.txt").read_text() == "A" and (tmp_path / "b.txt").read_text() == "B"
    assert sim.requests[1].rejected is None


def test_multi_step_task_leaves_the_right_bytes(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent], tmp_path: Path
) -> None:
    content = "def greet():\n    return 'hello'\n"
    sim.script(
        Reply(
            Text("I'll write it."),
            ToolCall("write_file", {"path": "src/greet.py", "content": content}, chunk=9),
        ),
        Reply(ToolCall("read_file", {"path": "src/greet.py"})),
        Reply(ToolCall("patch", {"path": "src/greet.py", "edits": [{"old": "'hello'", "new": "'hello, world'"}]})),
        Reply(Text("Done: greet() now says hello, world.", chunk=5)),
    )
    result = make_agent().run("create greet.py and make it say hello, world")
    assert result.status == "completed"
    assert (tmp_path / "src" / "greet.py").read_bytes() == b"def greet():\n    return 'hello, world'\n"
    assert all(r.rejected is None for r in sim.requests)
    assert result.api_calls == 4


def test_truncated_text_is_continued_exactly(sim: ProviderSimulator, make_agent: Callable[..., AIAgent]) -> None:
    sim.script(Reply(Text("The answer is: Hello ", chunk=5), stop="max_tokens"), Reply(Text("world.")))
    events = list(make_agent().stream("say it"))
    finished = events[-1]
    assert finished.status == "completed"
    assert finished.final_text == "The answer is: Hello world."
    assert "".join(e.text for e in of_kind(events, "text_delta")) == "The answer is: Hello world."
    assert len(of_kind(events, "continuing")) == 1
    assert sim.requests[1].rejected is None  # no trailing whitespace sent back


def test_continuations_are_bounded(sim: ProviderSimulator, make_agent: Callable[..., AIAgent]) -> None:
    sim.behaviour(lambda request: Reply(Text("more "), stop="max_tokens"))
    result = make_agent().run("go on forever")
    assert len(sim.requests) == 4  # the reply and 3 continuations
    assert result.status == "completed"


def test_tool_call_cut_by_output_limit_is_never_executed(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent], tmp_path: Path
) -> None:
    cut = Reply(Text("Writing."), ToolCall("write_file", '{"path": "big.txt", "content": "abc'), stop="max_tokens")
    sim.behaviour(lambda request: cut)
    events = list(make_agent(max_tokens=1_000).stream("write a big file"))
    finished = events[-1]
    assert not (tmp_path / "big.txt").exists()
    assert of_kind(events, "tool_call_started") == []
    assert finished.status == "failed"
    error = finished.error or ""
    assert "big.txt" in error and "Nothing of that call was executed" in error
    # one retry at the model's real output limit, then two rounds of guidance, then the end
    assert len(sim.requests) == 4
    assert _max_tokens(sim.requests[0].body) == 1_000
    assert _max_tokens(sim.requests[1].body) > 1_000
    assert len(of_kind(events, "stall_guidance")) == 2
    assert all(r.rejected is None for r in sim.requests)


def _max_tokens(body: dict) -> int:
    return body.get("max_tokens") or body.get("max_completion_tokens") or 0


def test_stream_without_terminal_event_is_a_failure(sim: ProviderSimulator, make_agent: Callable[..., AIAgent]) -> None:
    sim.behaviour(lambda request: Reply(Text("Partial"), EndBody()))
    result = make_agent(max_retries=1).run("hi")
    assert result.status == "failed"
    assert len(sim.requests) == 2
    assert result.error is not None and "terminal event" in result.error


def test_conversation_continues_across_runs(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent], wire: WireSetup
) -> None:
    sim.script(Reply(Text("First.")), Reply(Text("Second.")))
    agent = make_agent()
    agent.run("one")
    agent.run("two")
    assert len(agent.history) == 4
    assert "First." in str(sim.requests[1].body["messages"])
    assert sim.requests[1].rejected is None


def test_invalid_tool_arguments_go_back_to_the_model(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent]
) -> None:
    sim.script(Reply(ToolCall("read_file", '{"path": oops}')), Reply(Text("Sorry, retrying.")))
    result = make_agent().run("read it")
    assert result.status == "completed"
    assert "not valid JSON" in str(sim.requests[1].body["messages"])
    assert sim.requests[1].rejected is None


def test_unknown_tool_goes_back_to_the_model(sim: ProviderSimulator, make_agent: Callable[..., AIAgent]) -> None:
    sim.script(Reply(ToolCall("fly_to_moon", {})), Reply(Text("I cannot.")))
    result = make_agent().run("go")
    assert result.status == "completed"
    assert "fly_to_moon" in str(sim.requests[1].body["messages"])


def test_iteration_cap(sim: ProviderSimulator, make_agent: Callable[..., AIAgent]) -> None:
    sim.behaviour(lambda request: Reply(ToolCall("list_dir", {})))
    result = make_agent(max_iterations=3).run("loop")
    assert result.status == "failed" and result.error is not None and "--max-iterations" in result.error
    assert len(sim.requests) == 3
