"""Recovery policy v2 (issue 14) end to end through the real SDKs: a busy provider is
waited out, a broken one is left early for the fallback, the two stall limits, gateways
on localhost, and the error shapes gateways send.

Durations here are lower bounds (a wait the server asked for cannot be skipped) or
generous safety nets; bench/rate_limit.py measures how close to the window it finishes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent import AIAgent
from agent.testing import (
    BusyWindow,
    HttpError,
    KeepAlives,
    ProviderSimulator,
    RawSSE,
    Reply,
    Silence,
    Text,
    ToolCall,
)
from tests.e2e.conftest import of_kind


@pytest.mark.parametrize("advice", ["retry-after", "litellm", "text"])
def test_a_rate_limit_window_is_waited_out_with_the_servers_advice(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent], advice: str
) -> None:
    window = BusyWindow(5.0, status=429, advice=advice)  # type: ignore[arg-type]
    sim.behaviour(window)
    started = time.monotonic()
    events = list(make_agent().stream("hi"))
    elapsed = time.monotonic() - started
    assert events[-1].status == "completed" and events[-1].final_text == "Done waiting."
    assert elapsed >= 4.0  # the advice was honoured: no hammering inside the window
    assert window.busy_answers <= 3  # one wait of about the window, not a burst of attempts
    retrying = of_kind(events, "retrying")
    assert retrying and retrying[0].delay >= 4 and retrying[0].failure == "overloaded"
    assert retrying[0].of == 0 and retrying[0].budget_left is not None


def test_an_overloaded_provider_is_waited_out_for_20_seconds_with_a_countdown(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent]
) -> None:
    sim.behaviour(BusyWindow(20.0, status=529, advice="none"))
    events = list(make_agent().stream("hi"))
    assert events[-1].status == "completed"
    assert len(of_kind(events, "retrying")) >= 3  # far more than the old three attempts allowed
    countdown = of_kind(events, "retry_waiting")
    assert countdown and all(c.seconds_left >= 0 for c in countdown)


def test_a_spent_time_budget_ends_with_a_clear_message(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent]
) -> None:
    sim.behaviour(lambda request: HttpError(529, "Overloaded"))
    started = time.monotonic()
    result = make_agent(retry_budget=3).run("hi")
    assert result.status == "failed"
    assert "overloaded or rate-limited" in (result.error or "") and "--retry-budget" in (result.error or "")
    assert time.monotonic() - started < 60  # bounded by the budget, not the attempt count


def test_advice_longer_than_the_budget_fails_at_once_and_says_so(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent]
) -> None:
    sim.behaviour(lambda request: HttpError(429, "slow down", headers={"retry-after": "900"}))
    result = make_agent().run("hi")
    assert result.status == "failed" and "asks to wait 900 s" in (result.error or "")
    assert len(sim.requests) == 1


# --- two stall limits --------------------------------------------------------------------------


def test_a_slow_first_token_is_not_a_stall_under_its_own_limit(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent]
) -> None:
    sim.script(Reply(Silence(3), Text("Thought about it.")))
    events = list(make_agent(stale_timeout=2, first_token_timeout=5).stream("think"))
    assert events[-1].final_text == "Thought about it." and of_kind(events, "stalled") == []
    started = of_kind(events, "model_call_started")[0]
    assert (started.first_token_timeout, started.gap_timeout) == (5, 2)


def test_a_gap_in_the_middle_of_a_reply_is_caught_by_the_tight_limit(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent]
) -> None:
    sim.script(Reply(Text("Half "), Silence(3), Text("never")), Reply(Text("the rest.")))
    events = list(make_agent(stale_timeout=2, first_token_timeout=5).stream("go"))
    (stalled,) = of_kind(events, "stalled")
    assert stalled.phase == "between_deltas"
    assert events[-1].final_text == "Half the rest."


def test_a_local_server_gets_a_long_first_token_limit_for_its_prefill(sim: ProviderSimulator, tmp_path: Path) -> None:
    sim.behaviour(lambda request: Reply(Text("ok")))
    with AIAgent(provider="openai", model="o3", base_url=sim.openai_base_url, api_key="k", workdir=tmp_path) as agent:
        started = of_kind(list(agent.stream("q")), "model_call_started")[0]
    # sim.openai_base_url is on 127.0.0.1: a local server, so the local limits apply
    assert (started.first_token_timeout, started.gap_timeout) == (900, 300)


def test_only_keep_alives_are_named_as_such(sim: ProviderSimulator, make_agent: Callable[..., AIAgent]) -> None:
    sim.script(Reply(Text("Thinking"), KeepAlives(30, every=0.2)), Reply(Text(" done.")))
    events = list(make_agent(stale_timeout=1).stream("hi"))
    (stalled,) = of_kind(events, "stalled")
    assert stalled.keepalives > 0
    assert "only keep-alives" in of_kind(events, "retrying")[0].reason


# --- gateways ----------------------------------------------------------------------------------

LITELLM_HEADERS = {"x-litellm-model-id": "abc123", "x-litellm-version": "1.108.7", "llm_provider-x-request-id": "r"}


def test_a_litellm_gateway_on_localhost_gets_cloud_stall_limits(sim: ProviderSimulator, tmp_path: Path) -> None:
    sim.script(
        Reply(ToolCall("list_dir", {}), headers=LITELLM_HEADERS),
        Reply(Text("Listed."), headers=LITELLM_HEADERS),
    )
    with AIAgent(provider="custom", model="gpt-4o", base_url=sim.openai_base_url, workdir=tmp_path) as agent:
        events = list(agent.stream("list"))
    first, second = of_kind(events, "model_call_started")
    assert first.first_token_timeout == 900  # before the first answer it looks like a local model
    assert (second.first_token_timeout, second.gap_timeout) == (180, 180)
    assert agent.provider.is_local is False


def test_a_gateway_declared_in_the_config_gets_cloud_limits_from_the_start(
    sim: ProviderSimulator, tmp_path: Path
) -> None:
    from agent.config import Settings

    sim.behaviour(lambda request: Reply(Text("ok")))
    settings = Settings(provider_overrides={"custom": {"gateway": True}})
    with AIAgent(
        provider="custom", model="gpt-4o", base_url=sim.openai_base_url, workdir=tmp_path, settings=settings
    ) as agent:
        started = of_kind(list(agent.stream("q")), "model_call_started")[0]
    assert (started.first_token_timeout, started.gap_timeout) == (180, 180)


def test_a_404_that_is_not_about_a_model_says_the_url_is_wrong(sim: ProviderSimulator, tmp_path: Path) -> None:
    sim.script(HttpError(404, "", body={"detail": "Not Found"}))
    with AIAgent(provider="custom", model="gpt-4o", base_url=sim.openai_base_url, workdir=tmp_path) as agent:
        result = agent.run("q")
    assert result.status == "failed" and "base URL is probably wrong" in (result.error or "")
    assert f"{sim.openai_base_url}/chat/completions" in (result.error or "")


def test_an_anthropic_base_url_ending_in_v1_is_corrected_with_a_warning(sim: ProviderSimulator, tmp_path: Path) -> None:
    sim.behaviour(lambda request: Reply(Text("ok")))
    with AIAgent(
        provider="anthropic", model="claude-sonnet-4-6", base_url=sim.base_url + "/v1", api_key="k", workdir=tmp_path
    ) as agent:
        events = list(agent.stream("q"))
    assert events[-1].status == "completed" and sim.requests[0].path == "/v1/messages"
    assert any("/v1/messages itself" in n.message for n in of_kind(events, "notice"))


LITELLM_DROP = (
    b'data: {"error":{"message":"litellm.APIConnectionError: AnthropicException - Connection error.",'
    b'"type":null,"code":"500"}}\n\n'
)


def test_litellm_connection_errors_are_transient(sim: ProviderSimulator, tmp_path: Path) -> None:
    sim.script(RawSSE(LITELLM_DROP), Reply(Text("Recovered.")))
    with AIAgent(provider="custom", model="claude", base_url=sim.openai_base_url, workdir=tmp_path) as agent:
        events = list(agent.stream("q"))
    assert events[-1].final_text == "Recovered." and len(of_kind(events, "retrying")) == 1


def test_an_upstream_invalid_request_inside_a_gateway_error_is_not_retried(
    sim: ProviderSimulator, tmp_path: Path
) -> None:
    upstream = '{"type":"error","error":{"type":"invalid_request_error","message":"tools.0.name: bad"}}'
    body: dict[str, Any] = {
        "error": {"message": f"litellm.BadRequestError: AnthropicException - {upstream}", "type": None, "code": "400"}
    }
    sim.behaviour(lambda request: HttpError(500, "", body=body))
    with AIAgent(provider="custom", model="claude", base_url=sim.openai_base_url, workdir=tmp_path) as agent:
        result = agent.run("q")
    assert result.status == "failed" and "tools.0.name: bad" in (result.error or "")
    assert len(sim.requests) == 1


# --- loops -------------------------------------------------------------------------------------


def test_a_model_that_repeats_the_same_call_is_told_then_stopped(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent], tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("hello\n")
    sim.behaviour(lambda request: Reply(ToolCall("read_file", {"path": "notes.txt"})))
    events = list(make_agent().stream("read it"))
    finished = events[-1]
    assert finished.status == "failed" and "kept repeating the same read_file call" in (finished.error or "")
    ran = [e for e in of_kind(events, "tool_call_finished") if not e.is_error]
    assert len(ran) == 3  # the limit; the fourth got the note, the fifth ended the turn
    assert len(sim.requests) == 5
    noted = [e for e in of_kind(events, "tool_call_finished") if e.is_error]
    assert len(noted) == 1 and "repeated" in noted[0].summary


def test_rerunning_a_command_after_an_edit_is_not_a_loop(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent], tmp_path: Path
) -> None:
    script = []
    for i in range(5):
        script.append(Reply(ToolCall("write_file", {"path": "a.txt", "content": f"v{i}"})))
        script.append(Reply(ToolCall("terminal", {"command": "cat a.txt"})))
    sim.script(*script, Reply(Text("Done.")))
    result = make_agent(approve=lambda tool, action: True).run("iterate")
    assert result.status == "completed" and (tmp_path / "a.txt").read_text() == "v4"


def test_single_shot_shows_a_multi_line_server_error_on_one_line(sim: ProviderSimulator, tmp_path: Path) -> None:
    from tests.e2e.test_cli_sessions import SETUPS, run_cli

    dump = "3 validation errors for ChatCompletionRequest\nmessages.1.content\n  Input should be a valid string"
    sim.behaviour(lambda request: HttpError(400, dump))
    home = tmp_path / "home"
    home.mkdir()
    done = run_cli(home, *SETUPS["openai"](sim), "-q", "hi")
    assert done.returncode == 1
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("stayline: error:")]
    assert "3 validation errors for ChatCompletionRequest messages.1.content Input should be a valid string" in line
