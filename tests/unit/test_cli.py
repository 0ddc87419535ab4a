"""The command line contract: flags, exit codes, stdout/stderr split, startup imports.

The agent is replaced by a scripted fake here; end-to-end runs against the provider
simulator live elsewhere.
"""

from __future__ import annotations

import inspect
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import agent.agent
from agent.cli.interrupts import InterruptGuard
from agent.cli.main import API_MODES, PROVIDERS, agent_kwargs, build_parser, main
from agent.cli.oneshot import run_single
from agent.cli.repl import ChatPrinter, chat_turn
from agent.events import (
    AgentEvent,
    Retrying,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnFinished,
    TurnStarted,
)
from agent.providers.profiles import PROFILES, WIRES
from agent.result import AgentResult

ROOT = Path(__file__).resolve().parents[2]
KEY_VARS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY", "STAYLINE_API_KEY")

ALL_FLAGS = [
    "-q", "hi", "--json", "--provider", "custom", "--model", "m", "--base-url", "http://127.0.0.1:1/v1",
    "--api-mode", "chat_completions", "--api-key", "k", "--workdir", ".", "--max-tokens", "100",
    "--max-iterations", "5", "--max-retries", "0", "--stale-timeout", "2.5",
]  # fmt: skip

TOOL_TURN: list[AgentEvent] = [
    TurnStarted(None, "anthropic", "m"),
    ToolCallStarted("c1", "write_file", "notes.txt"),
    ToolCallFinished("c1", "write_file", "notes.txt", False, "wrote 12 bytes", 0.01),
    Retrying(2, 3, "HTTP 529", 0.0),
    TextDelta("Done"),
    TextDelta("."),
    TurnFinished("completed", "Done."),
]


class FakeAgent:
    """Duck-types the parts of AIAgent the CLI uses."""

    def __init__(self, events: list[AgentEvent] | None = None, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.events = list(events if events is not None else TOOL_TURN)
        self.prompts: list[str] = []
        self.interrupted = threading.Event()
        self.session_id: str | None = None

    def stream(self, text: str) -> Iterator[AgentEvent]:
        self.prompts.append(text)
        yield from self.events

    def run(self, text: str) -> AgentResult:
        finished = [e for e in self.stream(text) if isinstance(e, TurnFinished)][-1]
        usage = {"input_tokens": 10, "output_tokens": 5}
        return AgentResult(finished.status, finished.final_text, [], usage, finished.error, 1, None, {"x": 1})

    def interrupt(self) -> None:
        self.interrupted.set()

    def close(self) -> None:
        pass

    def __enter__(self) -> FakeAgent:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class SelfInterruptingAgent(FakeAgent):
    """A turn during which the user presses Ctrl+C: a real SIGINT to this process."""

    def stream(self, text: str) -> Iterator[AgentEvent]:
        yield TurnStarted(None, "anthropic", "m")
        yield TextDelta("partial")
        os.kill(os.getpid(), signal.SIGINT)
        assert self.interrupted.wait(5), "Ctrl+C did not reach agent.interrupt()"
        yield TurnFinished("interrupted", "partial", "interrupted by the user")


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*KEY_VARS, "STAYLINE_PROVIDER", "STAYLINE_MODEL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> list[FakeAgent]:
    """Make main() build FakeAgents; the list collects them."""
    made: list[FakeAgent] = []

    def factory(**kwargs: Any) -> FakeAgent:
        made.append(FakeAgent(**kwargs))
        return made[-1]

    monkeypatch.setattr(agent.agent, "AIAgent", factory)
    return made


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str, tty: bool = False) -> None:
    stream = io.StringIO(text)
    stream.isatty = lambda: tty  # type: ignore[method-assign]
    monkeypatch.setattr(sys, "stdin", stream)


# --- the flag contract --------------------------------------------------------------------


def test_every_public_flag_parses() -> None:
    args = build_parser().parse_args(ALL_FLAGS)
    assert (args.query, args.json, args.provider, args.model) == ("hi", True, "custom", "m")
    assert (args.base_url, args.api_mode, args.api_key, args.workdir) == (
        "http://127.0.0.1:1/v1", "chat_completions", "k", ".",
    )  # fmt: skip
    assert (args.max_tokens, args.max_iterations, args.max_retries, args.stale_timeout) == (100, 5, 0, 2.5)
    assert build_parser().parse_args(["--query", "x"]).query == "x"


def test_choices_match_the_provider_profiles() -> None:
    assert set(PROVIDERS) == set(PROFILES)
    assert set(API_MODES) == set(WIRES)


def test_flags_map_onto_aiagent_keyword_arguments() -> None:
    kwargs = agent_kwargs(build_parser().parse_args(ALL_FLAGS))
    assert set(kwargs) <= set(inspect.signature(agent.agent.AIAgent).parameters)
    assert kwargs["stale_timeout"] == 2.5 and kwargs["api_mode"] == "chat_completions"
    # flags not given stay None so AIAgent applies the environment and its defaults
    assert all(v is None for v in agent_kwargs(build_parser().parse_args([])).values())


def test_help_and_version_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    help_text = capsys.readouterr().out
    for flag in (
        "--query",
        "--json",
        "--provider",
        "--base-url",
        "--api-mode",
        "--stale-timeout",
        "--version",
    ):
        assert flag in help_text
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("stayline")


@pytest.mark.parametrize(
    "argv",
    [
        ["--bogus"],
        ["--provider", "nope"],
        ["--max-retries", "-1"],
        ["--stale-timeout", "0"],
        ["--max-tokens", "x"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "stayline: error:" in capsys.readouterr().err


# --- configuration errors: exit 2, one line, no traceback ---------------------------------


def test_missing_key_exits_2_naming_the_variable(no_keys: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "hi", "--provider", "anthropic"]) == 2
    captured = capsys.readouterr()
    assert "ANTHROPIC_API_KEY" in captured.err
    assert captured.err.startswith("stayline: ") and "Traceback" not in captured.err
    assert captured.out == ""


def test_custom_provider_needs_base_url(no_keys: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "hi", "--provider", "custom"]) == 2
    assert "--base-url" in capsys.readouterr().err


def test_config_error_in_json_mode_still_exits_2(no_keys: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "hi", "--json", "--provider", "openai"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "OPENAI_API_KEY" in captured.err


def test_missing_workdir_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["-q", "hi", "--provider", "anthropic", "--api-key", "k", "--workdir", str(tmp_path / "nope")]
    assert main(argv) == 2
    assert "does not exist" in capsys.readouterr().err


def test_invalid_setting_value_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "hi", "--provider", "anthropic", "--api-key", "k", "--max-iterations", "0"]) == 2
    assert "max_iterations" in capsys.readouterr().err


# --- single shot ----------------------------------------------------------------------------


def test_single_shot_answer_on_stdout_progress_on_stderr(
    fake: list[FakeAgent], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-q", "write notes", "--provider", "anthropic", "--max-retries", "1"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "Done.\n"
    assert captured.err.splitlines() == [
        "→ write_file notes.txt",
        "✓ write_file notes.txt  wrote 12 bytes (0.0s)",
        "↻ retrying (attempt 2 of 3): HTTP 529",
    ]
    assert fake[0].prompts == ["write notes"]
    assert fake[0].kwargs["provider"] == "anthropic" and fake[0].kwargs["max_retries"] == 1


def test_failed_turn_exits_1_with_the_error() -> None:
    agent_ = FakeAgent([TurnStarted(None, "p", "m"), TurnFinished("failed", "", "provider down; retry later")])
    out, err = io.StringIO(), io.StringIO()
    assert run_single(agent_, "hi", json_mode=False, out=out, err=err) == 1  # type: ignore[arg-type]
    assert out.getvalue() == ""
    assert err.getvalue() == "stayline: error: provider down; retry later\n"


def test_partial_text_of_a_failed_turn_is_kept_on_stdout() -> None:
    agent_ = FakeAgent([TurnFinished("failed", "half an answer", "stream broke")])
    out, err = io.StringIO(), io.StringIO()
    assert run_single(agent_, "hi", json_mode=False, out=out, err=err) == 1  # type: ignore[arg-type]
    assert out.getvalue() == "half an answer\n"


def test_json_prints_exactly_one_result_object(fake: list[FakeAgent], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "hi", "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    result = json.loads(out)
    assert set(result) == {
        "status", "final_text", "api_calls", "usage", "error", "session_id", "events",
        "cost_usd", "cache_hit_share", "waste", "context", "truncated",
    }  # fmt: skip
    assert result["status"] == "completed" and result["final_text"] == "Done."


def test_piped_stdin_is_the_prompt(
    fake: list[FakeAgent], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, "hi from a pipe\n")
    assert main([]) == 0
    assert fake[0].prompts == ["hi from a pipe\n"]
    assert capsys.readouterr().out == "Done.\n"


def test_query_dash_reads_stdin(fake: list[FakeAgent], monkeypatch: pytest.MonkeyPatch) -> None:
    _stdin(monkeypatch, "from stdin")
    assert main(["-q", "-"]) == 0
    assert fake[0].prompts == ["from stdin"]


def test_empty_prompt_is_a_usage_error(
    fake: list[FakeAgent], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, "  \n")
    assert main([]) == 2
    assert "empty prompt" in capsys.readouterr().err


def test_json_without_a_prompt_on_a_terminal_is_a_usage_error(
    fake: list[FakeAgent], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, "", tty=True)
    assert main(["--json"]) == 2
    assert "--json needs a prompt" in capsys.readouterr().err
    assert fake == []  # refused before any agent was built


# --- Ctrl+C --------------------------------------------------------------------------------


def test_ctrl_c_interrupts_the_turn_and_exits_130() -> None:
    agent_ = SelfInterruptingAgent()
    out, err = io.StringIO(), io.StringIO()
    assert run_single(agent_, "hi", json_mode=False, out=out, err=err) == 130  # type: ignore[arg-type]
    assert agent_.interrupted.is_set()
    assert out.getvalue() == "partial\n"  # the events were consumed to the end
    assert "interrupted by the user" in err.getvalue()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


def test_second_ctrl_c_raises_keyboard_interrupt_at_once() -> None:
    calls: list[str] = []
    with InterruptGuard(lambda: calls.append("interrupt")) as guard:
        guard.trigger()
        deadline = time.monotonic() + 5
        while not calls and time.monotonic() < deadline:
            time.sleep(0.01)
        assert calls == ["interrupt"]  # delivered by the relay thread
        with pytest.raises(KeyboardInterrupt):
            guard.trigger()


def test_guard_outside_the_main_thread_calls_back_directly() -> None:
    calls: list[str] = []

    def body() -> None:
        with InterruptGuard(lambda: calls.append("interrupt")) as guard:
            guard.trigger()

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(5)
    assert calls == ["interrupt"]


def test_forced_quit_in_json_mode_still_prints_one_object() -> None:
    class QuitAgent(FakeAgent):
        def stream(self, text: str) -> Iterator[AgentEvent]:
            raise KeyboardInterrupt
            yield  # a generator, like the real stream()

    out, err = io.StringIO(), io.StringIO()
    assert run_single(QuitAgent(), "hi", json_mode=True, out=out, err=err) == 130  # type: ignore[arg-type]
    assert json.loads(out.getvalue())["status"] == "interrupted"


def test_chat_turn_streams_text_and_status_lines() -> None:
    out = io.StringIO()
    finished = chat_turn(FakeAgent(), "hi", ChatPrinter(out))  # type: ignore[arg-type]
    assert finished is not None and finished.status == "completed"
    assert out.getvalue().splitlines() == [
        "→ write_file notes.txt",
        "✓ write_file notes.txt  wrote 12 bytes (0.0s)",
        "↻ retrying (attempt 2 of 3): HTTP 529",
        "Done.",
    ]


def test_chat_turn_ctrl_c_returns_to_the_prompt() -> None:
    out = io.StringIO()
    agent_ = SelfInterruptingAgent()
    finished = chat_turn(agent_, "hi", ChatPrinter(out))  # type: ignore[arg-type]
    assert finished is not None and finished.status == "interrupted"
    assert out.getvalue().endswith("■ interrupted by the user\n")


# --- startup cost -----------------------------------------------------------------------------

_PROBE = """
import json, runpy, sys
sys.argv = ["run_agent.py", "--help"]
try:
    runpy.run_path("run_agent.py", run_name="__main__")
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _help_modules() -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["code"] == 0
    return set(report["modules"])


def test_help_imports_no_sdk_ui_nor_schema_library() -> None:
    loaded = {name.split(".")[0] for name in _help_modules()}
    assert not loaded & {"anthropic", "openai", "httpx", "rich", "prompt_toolkit", "pydantic", "jsonschema"}


def test_help_does_not_import_the_agent() -> None:
    assert "agent.agent" not in _help_modules()
