"""The chat's offer of a local server, the extra detection ports, the -q live status line
and --stream, the new flags and config keys."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.cli.local_servers import LocalServer, detection_ports, offer_local_server
from agent.cli.main import build_parser, load_cli_settings
from agent.cli.progress import Progress
from agent.config_file import resolve_settings
from agent.config_reader import read_config
from agent.errors import ConfigError
from agent.events import ModelCallStarted, Retrying, TextDelta, ToolCallStarted, Waiting

ONE = LocalServer("llama.cpp", "http://127.0.0.1:8080/v1", ("/models/gemma.gguf",))
MANY = LocalServer("Ollama", "http://127.0.0.1:11434/v1", ("qwen3:8b", "llama3.2:3b"))
BUSY = LocalServer("vLLM", "http://127.0.0.1:8000/v1", busy=True)


def answers(*replies: str) -> tuple[list[str], list[str], Callable[[str], str]]:
    asked: list[str] = []
    said: list[str] = []
    queue = list(replies)

    def ask(question: str) -> str:
        asked.append(question)
        return queue.pop(0) if queue else ""

    return asked, said, ask


def test_the_chat_offers_a_server_and_uses_its_one_model() -> None:
    asked, said, ask = answers("y")
    assert offer_local_server([ONE], ask, said.append) == ("http://127.0.0.1:8080/v1", "/models/gemma.gguf")
    assert asked == ["No API key is set. Use llama.cpp at http://127.0.0.1:8080/v1 (/models/gemma.gguf)? [y/N] "]


def test_no_means_no_and_several_models_are_a_numbered_choice() -> None:
    _, said, ask = answers("n")
    assert offer_local_server([ONE], ask, said.append) is None
    _, said, ask = answers("yes", "2")
    assert offer_local_server([MANY], ask, said.append) == ("http://127.0.0.1:11434/v1", "llama3.2:3b")
    assert said == ["  1. qwen3:8b", "  2. llama3.2:3b"]
    _, said, ask = answers("y", "nonsense")
    assert offer_local_server([MANY], ask, said.append) is None


def test_a_busy_server_is_reported_not_offered() -> None:
    asked, said, ask = answers("y")
    assert offer_local_server([BUSY, ONE], ask, said.append) == ("http://127.0.0.1:8080/v1", "/models/gemma.gguf")
    assert said[0].startswith("A server on port 8000 did not answer in time")
    assert len(asked) == 1


def test_detection_ports_from_the_environment() -> None:
    ports = [port for port, _ in detection_ports({"STAYLINE_DETECT_PORTS": "9000, 8080,x,70000"})]
    assert ports[-1] == 9000 and ports.count(8080) == 1 and 70000 not in ports


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_live_status_line_on_a_terminal() -> None:
    err, out = Tty(), io.StringIO()
    now = [0.0]
    progress = Progress(out, err, clock=lambda: now[0])
    progress.event(ModelCallStarted(1, 1, "custom", "m"))
    now[0] = 12.0
    progress.event(Waiting(12.0, "first_delta"))
    assert "waiting for the provider (12s)" in err.getvalue() and "\r\x1b[2K" in err.getvalue()
    assert "\n" not in err.getvalue()  # a redrawn line, not a progress line
    now[0] = 12.5  # text redraws are throttled to ten a second
    progress.event(TextDelta("x" * 400))
    assert "streaming the answer: ~101 tokens" in err.getvalue()
    progress.event(Retrying(2, 3, "HTTP 503", 1.0))
    assert "↻ retrying (attempt 2 of 3)" in err.getvalue()  # the progress line, kept
    progress.close()
    assert err.getvalue().endswith("\r\x1b[2K")  # the terminal is left clean
    assert out.getvalue() == ""  # only the answer ever goes to stdout


def test_no_live_line_when_stderr_is_not_a_terminal() -> None:
    err, out = io.StringIO(), io.StringIO()
    progress = Progress(out, err)
    progress.event(ModelCallStarted(1, 1, "custom", "m"))
    progress.event(Waiting(20.0, "first_delta"))
    progress.event(ToolCallStarted("c", "read_file", "a.txt"))
    assert "\r" not in err.getvalue()
    assert err.getvalue().splitlines() == ["… waiting for the provider (20s)", "→ read_file a.txt"]


def test_stream_writes_the_text_as_it_comes_byte_exact_when_piped() -> None:
    err, out = io.StringIO(), io.StringIO()
    progress = Progress(out, err, stream_answer=True)
    progress.event(TextDelta("hello \x1b[31m"))
    progress.event(TextDelta("world"))
    progress.close()
    assert out.getvalue() == "hello \x1b[31mworld\n" and progress.streamed
    tty = Tty()
    progress = Progress(tty, err, stream_answer=True)
    progress.event(TextDelta("hello \x1b[31mworld"))
    assert "\x1b" not in tty.getvalue()  # cleaned on a terminal


def test_flags_and_config_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAYLINE_HOME", str(tmp_path))
    args = build_parser().parse_args(["-q", "hi", "--no-stream", "--max-continuations", "0", "--stream"])
    settings = load_cli_settings(args, interactive=False)
    assert settings.stream is False and settings.max_continuations == 0 and args.stream_answer
    config = tmp_path / "config.toml"
    config.write_text("stream = false\nmax_continuations = 5\n[providers.custom]\ntool_choice = false\n")
    resolved = resolve_settings(read_config(config))
    assert resolved.stream is False and resolved.max_continuations == 5
    assert resolved.provider_overrides["custom"]["tool_choice"] is False
    config.write_text("max_continuations = -1\n")
    with pytest.raises(ConfigError, match="max_continuations"):
        read_config(config)
