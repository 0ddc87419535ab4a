"""The command line against the simulated local servers: --no-stream, --stream, unknown
usage in --json, --max-continuations, the one listed model, and detection offering a
server in the chat under a real pseudo-terminal."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.testing import ProviderSimulator, Reply, Text
from tests.e2e.test_chat_pty import ROOT, PtyChat, chat_env
from tests.e2e.test_cli_e2e import run_cli


@pytest.fixture
def sim() -> Iterator[ProviderSimulator]:
    with ProviderSimulator() as simulator:
        yield simulator


def test_no_stream_sends_whole_requests_and_unknown_usage_is_null(sim: ProviderSimulator, tmp_path: Path) -> None:
    sim.script(Reply(Text("whole")))
    done = run_cli(tmp_path, "--base-url", sim.local_url("llamacpp-python"), "--no-stream", "--json", "-q", "hi")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["final_text"] == "whole" and "stream" not in sim.requests[-1].body
    # without --no-stream, llama-cpp-python streams no usage: unknown, never 0
    sim.script(Reply(Text("streamed")))
    done = run_cli(tmp_path, "--base-url", sim.local_url("llamacpp-python"), "--json", "-q", "hi")
    result = json.loads(done.stdout)
    assert sim.requests[-1].body["stream"] is True
    assert result["usage"]["input_tokens"] is None and result["usage"]["output_tokens"] is None


def test_the_one_listed_model_is_used_without_model(sim: ProviderSimulator, tmp_path: Path) -> None:
    sim.script(Reply(Text("picked")))
    done = run_cli(tmp_path, "--provider", "custom", "--base-url", sim.local_url("vllm"), "-q", "hi")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "picked\n"
    assert sim.requests[-1].body["model"] == "Qwen/Qwen3-8B"
    sim.configure_server("vllm", models=("a", "b"))
    done = run_cli(tmp_path, "--base-url", sim.local_url("vllm"), "-q", "hi")
    assert done.returncode == 2 and "serves 2 models; choose one" in done.stderr and "--model a" in done.stderr


def test_max_continuations_zero_ends_truncated_with_a_notice(sim: ProviderSimulator, tmp_path: Path) -> None:
    sim.script(Reply(Text("cut sh"), stop="max_tokens"))
    # an explicit --max-tokens: the cut is the output limit, not a full context (this endpoint is local)
    args = ("--base-url", sim.openai_base_url, "--model", "m", "--max-tokens", "100", "--max-continuations", "0")
    args += ("--json", "-q", "hi")
    done = run_cli(tmp_path, *args)
    assert done.returncode == 0
    result = json.loads(done.stdout)
    assert result["truncated"] is True and result["final_text"] == "cut sh"
    assert "still cut by the output limit" in done.stderr
    assert len([r for r in sim.requests if r.path.endswith("/chat/completions")]) == 1  # not continued


def test_stream_writes_the_answer_to_stdout_as_it_arrives(sim: ProviderSimulator, tmp_path: Path) -> None:
    sim.script(Reply(Text("one two three", chunk=4)))
    done = run_cli(tmp_path, "--base-url", sim.openai_base_url, "--model", "m", "--stream", "-q", "hi")
    assert done.returncode == 0 and done.stdout == "one two three\n"  # once, nothing else on stdout
    clash = run_cli(tmp_path, "--base-url", sim.openai_base_url, "--model", "m", "--stream", "--json", "-q", "hi")
    assert clash.returncode == 2 and "choose one" in clash.stderr


def test_detection_offers_the_server_in_the_chat(sim: ProviderSimulator, tmp_path: Path) -> None:
    port = sim.base_url.rsplit(":", 1)[1]
    sim.script(Reply(Text("hello from the local server")))
    work = tmp_path / "work"
    work.mkdir()
    argv = [sys.executable, str(ROOT / "run_agent.py"), "--workdir", str(work)]
    chat = PtyChat(argv, chat_env(tmp_path, STAYLINE_DETECT_PORTS=port), ROOT)
    try:
        while True:  # another server on a usual port of this machine is declined
            offer = chat.expect(r"Use (.+?) at http://127\.0\.0\.1:(\d+)/v1 \((.+?)\)\? \[y/N\]")
            if offer.group(2) == port:
                break
            chat.line("n")
        assert offer.group(3) == "gpt-4o"  # the model id it lists
        chat.line("y")
        chat.expect(re.escape("stayline · custom · gpt-4o"))
        chat.prompt()
        chat.line("hi")
        chat.expect("hello from the local server")
        chat.prompt()
        chat.line("/quit")
        assert chat.wait_exit() == 0
    finally:
        chat.close()
    chats = [r for r in sim.requests if r.path.endswith("/chat/completions")]
    assert len(chats) == 1 and chats[0].body["model"] == "gpt-4o"


def test_single_shot_on_a_terminal_shows_a_live_status_line(sim: ProviderSimulator, tmp_path: Path) -> None:
    sim.script(Reply(Text("the answer")))
    argv = [sys.executable, str(ROOT / "run_agent.py"), "--base-url", sim.openai_base_url, "--model", "m"]
    argv += ["--workdir", str(tmp_path), "-q", "hi"]
    proc = PtyChat(argv, chat_env(tmp_path), ROOT)
    try:
        proc.expect(r"… waiting for the model · \d+s")  # drawn in place while the model works
        proc.expect("the answer")
        assert proc.wait_exit() == 0
    finally:
        proc.close()
