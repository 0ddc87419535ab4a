"""The servers people run locally, as the simulator plays them (llama-cpp-python,
llama-server, vLLM, Ollama under their own base paths), through the real openai SDK.

Each profile refuses what its server refuses (``agent/testing/rules.py``) and behaves as
its server does (``agent/testing/local_servers.py``): a null content is a 500 pydantic
dump on llama-cpp-python, which also streams no usage, answers a streamed overflow with
a 200 that has nothing in it, and cannot stream a tool call chosen with
``tool_choice: "auto"``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent import AIAgent
from agent.messages import Message, TextPart, ToolCallPart, ToolResultPart, user_message
from agent.testing import ProviderSimulator, Reply, SseError, Text, ToolCall
from agent.testing.script import LocalFlavour

FLAVOURS: tuple[LocalFlavour, ...] = ("llamacpp-python", "llama-server", "vllm", "ollama")


@pytest.fixture
def sim() -> Iterator[ProviderSimulator]:
    with ProviderSimulator() as simulator:
        yield simulator


@pytest.fixture
def local_agent(sim: ProviderSimulator, tmp_path: Path) -> Iterator[Callable[..., AIAgent]]:
    made: list[AIAgent] = []

    def make(flavour: LocalFlavour, **options: Any) -> AIAgent:
        settings: dict[str, Any] = {"provider": "custom", "base_url": sim.local_url(flavour), "workdir": tmp_path}
        settings.update(options)
        agent = AIAgent(stale_timeout=20.0, **settings)
        made.append(agent)
        return agent

    yield make
    for agent in made:
        agent.close()


def tool_loop_script() -> tuple[Reply, ...]:
    return (
        Reply(ToolCall("write_file", {"path": "notes.txt", "content": "local models work\n"})),
        Reply(ToolCall("read_file", {"path": "notes.txt"})),
        Reply(ToolCall("patch", {"path": "notes.txt", "edits": [{"old": "work", "new": "finish"}]})),
        Reply(Text("Patched notes.txt.")),
    )


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_write_read_patch_loop_completes_on_each_server(
    flavour: LocalFlavour, sim: ProviderSimulator, local_agent: Callable[..., AIAgent], tmp_path: Path
) -> None:
    sim.script(*tool_loop_script())
    agent = local_agent(flavour)  # no model named: the one the server lists is used
    assert agent.provider.model == sim.server_settings(flavour).models[0]
    result = agent.run("write notes.txt, read it back, then patch it")
    assert result.status == "completed", result.error
    assert result.final_text == "Patched notes.txt."
    assert (tmp_path / "notes.txt").read_text() == "local models finish\n"
    chats = [r for r in sim.requests if r.path.endswith("/chat/completions")]
    assert all(r.rejected is None for r in chats)
    assert all(r.body.get("tool_choice") == "auto" for r in chats)
    for request in chats:  # an assistant message with tool calls and no text: "" (never null)
        for message in request.body["messages"]:
            if message.get("tool_calls"):
                assert message["content"] == ""


def test_llamacpp_python_cannot_stream_a_tool_call_so_the_session_stops_streaming(
    sim: ProviderSimulator, local_agent: Callable[..., AIAgent]
) -> None:
    sim.script(*tool_loop_script())
    agent = local_agent("llamacpp-python")
    events = list(agent.stream("write, read and patch"))
    assert agent.last_result is not None and agent.last_result.status == "completed"
    streamed = [r.body.get("stream") is True for r in sim.requests if r.path.endswith("/chat/completions")]
    assert streamed == [True, False, False, False, False]  # one failed stream, then whole requests
    notices = [e.message for e in events if e.kind == "notice"]
    assert sum("streaming stays off for this session" in n for n in notices) == 1
    sim.script(Reply(Text("second turn")))
    assert agent.run("again").final_text == "second turn"
    assert sim.requests[-1].body.get("stream") is None  # kept for the session


def test_an_overflow_is_the_servers_400_with_the_prompt_size(
    sim: ProviderSimulator, local_agent: Callable[..., AIAgent]
) -> None:
    # llama-cpp-python reports its context size nowhere: stayline sends the request; the
    # streamed one gets an empty 200, the one unstreamed retry gets the server's 400.
    sim.configure_server("llamacpp-python", context_size=700)
    agent = local_agent("llamacpp-python", tools=[])
    result = agent.run("summarise this: " + "lorem ipsum dolor sit amet " * 200)
    assert result.status == "failed"
    error = result.error or ""
    chats = [r for r in sim.requests if r.path.endswith("/chat/completions")]
    assert [r.body.get("stream") for r in chats] == [True, None]
    assert "maximum context length is 700 tokens" in error and "in the messages" in error  # its own words
    assert re.search(r"about [\d,]+ tokens of 700", error)  # the prompt size, from its 400
    assert "Check your network" not in error and "overloaded" not in error and "\n" not in error


@pytest.mark.parametrize("flavour", ["llama-server", "vllm"])
def test_a_server_that_reports_its_window_is_not_sent_what_cannot_fit(
    flavour: LocalFlavour, sim: ProviderSimulator, local_agent: Callable[..., AIAgent]
) -> None:
    sim.configure_server(flavour, context_size=700)
    agent = local_agent(flavour, tools=[])
    result = agent.run("summarise this: " + "lorem ipsum dolor sit amet " * 200)
    assert result.status == "failed"
    assert not [r for r in sim.requests if r.path.endswith("/chat/completions")]
    assert re.search(r"about [\d,]+ tokens of 700\)", result.error or "")  # the window it reports


def test_a_500_validation_dump_is_a_bad_request_on_one_line(sim: ProviderSimulator, tmp_path: Path) -> None:
    # --provider openai sends OpenAI's own shape (null content beside tool calls), which
    # llama-cpp-python refuses with pydantic's multi-line dump as a 500.
    history = [
        user_message("write it"),
        Message("assistant", [ToolCallPart("call_1", "write_file", {"path": "a", "content": "b"})]),
        Message("tool", [ToolResultPart("call_1", "wrote a")]),
    ]
    with AIAgent(
        provider="openai", base_url=sim.local_url("llamacpp-python"), api_key="k", model="m",
        workdir=tmp_path, history=history, tools=[],
    ) as agent:  # fmt: skip
        result = agent.run("and now?")
    assert result.status == "failed"
    assert len(sim.requests) == 1  # not retried: the same body would be refused again
    error = result.error or ""
    assert "\n" not in error and "errors.pydantic.dev" not in error
    assert "the field refused: messages.2.ChatCompletionRequestAssistantMessage.content" in error
    assert "Input should be a valid string" in error and "overloaded" not in error
    assert "server's log" in error and "by stayline's estimate" in error  # where to look, on a local endpoint


def test_a_refusal_to_stream_is_retried_whole_once_and_kept(
    sim: ProviderSimulator, local_agent: Callable[..., AIAgent]
) -> None:
    sim.script(
        Reply(SseError("Streaming is not supported for this request", type="invalid_request_error", code=400)),
        Reply(Text("whole answer")),
        Reply(Text("second")),
    )
    agent = local_agent("vllm", tools=[])
    events = list(agent.stream("hi"))
    assert agent.last_result is not None and agent.last_result.final_text == "whole answer"
    assert sum(e.kind == "notice" and "without streaming" in e.message for e in events) == 1
    assert agent.run("again").final_text == "second"
    assert [r.body.get("stream") for r in sim.requests] == [True, None, None]


def test_no_stream_setting_sends_whole_requests(sim: ProviderSimulator, local_agent: Callable[..., AIAgent]) -> None:
    from agent.config import Settings

    sim.script(Reply(Text("done")))
    agent = local_agent("ollama", tools=[], settings=Settings(stream=False))
    assert agent.run("hi").final_text == "done"
    assert "stream" not in sim.requests[-1].body


def test_usage_a_server_does_not_send_stays_unknown(
    sim: ProviderSimulator, local_agent: Callable[..., AIAgent]
) -> None:
    sim.script(Reply(Text("no counts from me")))
    agent = local_agent("llamacpp-python", tools=[])
    result = agent.run("hi")
    assert result.status == "completed"
    assert result.usage["input_tokens"] is None and result.usage["output_tokens"] is None
    assert json.loads(json.dumps(result.to_json()))["usage"]["prompt_tokens"] is None
    assert agent.total_usage["input_tokens"] is None


def test_a_cut_from_a_full_context_is_never_continued(
    sim: ProviderSimulator, local_agent: Callable[..., AIAgent]
) -> None:
    sim.script(Reply(Text("a long answer that filled the context"), stop="max_tokens"), Reply(Text("never asked")))
    agent = local_agent("llama-server", tools=[])
    events = list(agent.stream("write a lot"))
    result = agent.last_result
    assert result is not None and result.status == "completed" and result.truncated
    assert result.to_json()["truncated"] is True
    assert len([r for r in sim.requests if r.path.endswith("/chat/completions")]) == 1
    assert any(e.kind == "notice" and "filled the model's context window" in e.message for e in events)
    window = sim.server_settings("llama-server").context_size
    sent = sim.requests[-1].body["max_tokens"]
    assert 0 < sent < window  # what is left of the server's context, not a guess


def test_vllm_room_from_its_400_fits_max_tokens(sim: ProviderSimulator, local_agent: Callable[..., AIAgent]) -> None:
    from agent.config import Settings

    sim.configure_server("vllm", context_size=4_000)
    sim.script(Reply(Text("fits now")))
    # A config that says the window is larger than the server runs (it wins over the server),
    # and the user's limit too big for what is left: vLLM's 400 names the room.
    wrong = Settings(model_overrides={"Qwen/Qwen3-8B": {"context_window": 100_000}})
    agent = local_agent("vllm", tools=[], max_tokens=3_900, settings=wrong)
    result = agent.run("hello " * 300)
    assert result.final_text == "fits now", result.error
    first, second = (r for r in sim.requests if r.path.endswith("/chat/completions"))
    assert first.rejected and "is too large: 3900" in first.rejected
    assert second.body["max_tokens"] < 3_900


def test_several_models_are_a_clear_choice(sim: ProviderSimulator, tmp_path: Path) -> None:
    from agent.errors import ConfigError

    sim.configure_server("ollama", models=("qwen3:8b", "llama3.2:3b"))
    with pytest.raises(ConfigError) as raised:
        AIAgent(provider="custom", base_url=sim.local_url("ollama"), workdir=tmp_path)
    text = str(raised.value)
    assert "serves 2 models; choose one" in text
    assert "--model qwen3:8b" in text and "--model llama3.2:3b" in text


def test_the_window_is_the_one_the_server_reports(sim: ProviderSimulator, local_agent: Callable[..., AIAgent]) -> None:
    sim.configure_server("vllm", context_size=12_345)
    sim.configure_server("llama-server", context_size=6_000)
    sim.configure_server("ollama", context_size=3_000)
    assert local_agent("vllm").provider.context_window == 12_345
    assert local_agent("llama-server").provider.context_window == 6_000
    assert local_agent("ollama").provider.context_window == 3_000
    assert getattr(local_agent("llamacpp-python").provider, "server_context_window", 0) is None  # it says nowhere


def test_text_and_usage_shapes_match_the_servers(sim: ProviderSimulator, local_agent: Callable[..., AIAgent]) -> None:
    sim.script(Reply(Text("counted")))
    agent = local_agent("vllm", tools=[])
    result = agent.run("hi")
    assert isinstance(result.usage["input_tokens"], int) and result.usage["input_tokens"] > 0
    assert result.usage["cache_read_tokens"] is None  # vLLM sends no prompt_tokens_details
    assert isinstance(agent.history[-1].parts[0], TextPart)


def test_without_tool_choice_llamacpp_python_never_shows_the_model_its_tools(
    sim: ProviderSimulator, local_agent: Callable[..., AIAgent], tmp_path: Path
) -> None:
    from agent.config import Settings

    sim.script(Reply(Text("I would write it."), ToolCall("write_file", {"path": "a.txt", "content": "x"})))
    settings = Settings(provider_overrides={"custom": {"tool_choice": False}})
    result = local_agent("llamacpp-python", settings=settings).run("write a.txt")
    assert "tool_choice" not in sim.requests[-1].body
    assert result.final_text == "I would write it." and not (tmp_path / "a.txt").exists()
