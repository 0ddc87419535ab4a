"""The real command line end to end: ``run_agent.py`` as a subprocess against the provider
simulator running in this process, on both wires (and a keyless custom endpoint).

Timeouts here are generous safety nets, not assertions about speed: each run takes about
a second, most of it the interpreter importing the SDKs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.testing import HttpError, ProviderSimulator, RecordedRequest, Reply, Silence, Text, ToolCall

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 60.0
JSON_KEYS = {
    "status", "final_text", "api_calls", "usage", "error", "session_id", "events",
    "cost_usd", "cache_hit_share", "waste", "context", "truncated",
}  # fmt: skip
_ENV_DROPPED = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY")

# How the CLI reaches the simulator, per setup.
SETUPS: dict[str, Callable[[ProviderSimulator], list[str]]] = {
    "anthropic": lambda sim: [
        "--provider", "anthropic", "--base-url", sim.base_url, "--api-key", "k", "--model", "claude-sonnet-4-6",
    ],
    "openai": lambda sim: [
        "--provider", "openai", "--base-url", sim.openai_base_url, "--api-key", "k", "--model", "gpt-4o",
    ],
    "custom": lambda sim: ["--provider", "custom", "--base-url", sim.openai_base_url, "--model", "m"],
}  # fmt: skip
WIRES = ("anthropic", "openai")


@pytest.fixture
def sim() -> Any:
    with ProviderSimulator() as simulator:
        yield simulator


@pytest.fixture(params=sorted(SETUPS))
def setup(request: pytest.FixtureRequest, sim: ProviderSimulator) -> list[str]:
    """The provider flags of one setup (anthropic, openai, keyless custom)."""
    return SETUPS[request.param](sim)


@pytest.fixture(params=WIRES)
def wire_setup(request: pytest.FixtureRequest, sim: ProviderSimulator) -> list[str]:
    """The provider flags of one wire (for the slower scenarios)."""
    return SETUPS[request.param](sim)


def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _ENV_DROPPED and not k.startswith("STAYLINE_") and not k.startswith("PYTEST_")
    }
    env.update(
        PYTHONPATH=str(ROOT),
        PYTHONIOENCODING="utf-8",
        PYTHONUNBUFFERED="1",
        STAYLINE_HOME=str(tmp_path / "home"),
    )
    return env


def cli_argv(*args: str) -> list[str]:
    return [sys.executable, "run_agent.py", *args]


def run_cli(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_argv(*args),
        cwd=ROOT,
        env=cli_env(tmp_path),
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=RUN_TIMEOUT,
    )


def start_cli(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cli_argv(*args),
        cwd=ROOT,
        env=cli_env(tmp_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )


def stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """Wait for the process to exit on its own; kill it if it does not (a failing test)."""
    try:
        return proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _out, err = proc.communicate()
        pytest.fail(f"the CLI did not exit; stderr so far:\n{err}")


def silence(request: RecordedRequest) -> Reply:
    return Reply(Silence(120))


def wait_for(condition: Callable[[], bool], seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def is_gone(pid: int) -> bool:
    """Dead, or a zombie nobody reaped (some containers' init never reaps orphans)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


# --- answers and tools ------------------------------------------------------------------------


def test_plain_answer_alone_on_stdout(sim: ProviderSimulator, setup: list[str], tmp_path: Path) -> None:
    sim.script(Reply(Text("Hello there!", chunk=4)))
    proc = run_cli(tmp_path, *setup, "-q", "hi")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Hello there!\n"
    assert "Traceback" not in proc.stderr
    assert len(sim.requests) == 1 and sim.requests[0].rejected is None


def test_tool_task_leaves_the_file_and_shows_the_tool_line(
    sim: ProviderSimulator, setup: list[str], tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    sim.script(
        Reply(Text("Writing it."), ToolCall("write_file", {"path": "notes.txt", "content": "alpha\nbeta\n"})),
        Reply(Text("Done.")),
    )
    proc = run_cli(tmp_path, *setup, "--workdir", str(work), "-q", "write notes.txt")
    assert proc.returncode == 0, proc.stderr
    assert (work / "notes.txt").read_text() == "alpha\nbeta\n"
    assert proc.stdout == "Done.\n"
    assert "→ write_file notes.txt" in proc.stderr
    assert "✓ write_file notes.txt" in proc.stderr
    assert [r.rejected for r in sim.requests] == [None, None]


def test_json_object_with_progress_on_stderr(sim: ProviderSimulator, setup: list[str], tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    sim.script(
        Reply(ToolCall("write_file", {"path": "a.txt", "content": "A"}), usage=(20, 4)),
        Reply(Text("Written."), usage=(30, 6)),
    )
    proc = run_cli(tmp_path, *setup, "--workdir", str(work), "--json", "-q", "write a.txt")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") == 1
    result = json.loads(proc.stdout)
    assert set(result) == JSON_KEYS
    assert result["status"] == "completed" and result["final_text"] == "Written."
    assert result["error"] is None and result["api_calls"] == 2
    usage = result["usage"]
    assert (usage["input_tokens"], usage["output_tokens"], usage["prompt_tokens"]) == (50, 10, 50)
    assert result["events"]["tool_call_started"] == 1 and result["events"]["turn_finished"] == 1
    assert "session_id" in result
    assert "→ write_file a.txt" in proc.stderr  # --json streams its progress lines too
    assert (work / "a.txt").read_text() == "A"


def test_prompt_from_stdin(sim: ProviderSimulator, tmp_path: Path) -> None:
    sim.script(Reply(Text("Got it.")))
    proc = run_cli(tmp_path, *SETUPS["custom"](sim), "-q", "-", stdin="a prompt that came through stdin\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Got it.\n"
    assert "a prompt that came through stdin" in json.dumps(sim.requests[0].body["messages"])


# --- failures -------------------------------------------------------------------------------


def test_rejected_key_exits_1_and_says_so(sim: ProviderSimulator, setup: list[str], tmp_path: Path) -> None:
    sim.behaviour(lambda request: HttpError(401, "invalid x-api-key"))
    proc = run_cli(tmp_path, *setup, "-q", "hi")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "stayline: error:" in proc.stderr and "API key" in proc.stderr
    assert len(sim.requests) == 1  # an auth failure is not retried


def test_rejected_key_in_json_mode(sim: ProviderSimulator, wire_setup: list[str], tmp_path: Path) -> None:
    sim.behaviour(lambda request: HttpError(401, "invalid x-api-key"))
    proc = run_cli(tmp_path, *wire_setup, "--json", "-q", "hi")
    assert proc.returncode == 1
    result = json.loads(proc.stdout)
    assert set(result) == JSON_KEYS
    assert result["status"] == "failed" and "API key" in result["error"]
    assert "API key" in proc.stderr


def test_stall_exits_1_saying_the_provider_sent_nothing(
    sim: ProviderSimulator, setup: list[str], tmp_path: Path
) -> None:
    sim.behaviour(silence)
    proc = run_cli(tmp_path, *setup, "--stale-timeout", "0.5", "-q", "hi")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "sent nothing" in proc.stderr
    assert "stalled" in proc.stderr  # the progress line of each stall
    assert len(sim.requests) == 3  # the first attempt and the 2 default retries


def test_stall_in_json_mode(sim: ProviderSimulator, wire_setup: list[str], tmp_path: Path) -> None:
    sim.behaviour(silence)
    proc = run_cli(tmp_path, *wire_setup, "--stale-timeout", "0.5", "--max-retries", "1", "--json", "-q", "hi")
    assert proc.returncode == 1
    result = json.loads(proc.stdout)
    assert set(result) == JSON_KEYS
    assert result["status"] == "failed" and "sent nothing" in result["error"]
    assert result["api_calls"] == 2
    assert "sent nothing" in proc.stderr


def test_missing_key_exits_2_naming_the_variable(tmp_path: Path) -> None:
    proc = run_cli(tmp_path, "--provider", "anthropic", "-q", "hi")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "ANTHROPIC_API_KEY" in proc.stderr and "Traceback" not in proc.stderr


# --- Ctrl+C ---------------------------------------------------------------------------------


def test_sigint_during_a_silent_stream_exits_130(sim: ProviderSimulator, wire_setup: list[str], tmp_path: Path) -> None:
    sim.behaviour(silence)
    proc = start_cli(tmp_path, *wire_setup, "--stale-timeout", "300", "-q", "hi")
    try:
        assert sim.wait_for_requests(1, timeout=60), "the CLI never sent its request"
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    signalled = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _out, err = stop(proc)
    assert proc.returncode == 130, err
    assert time.monotonic() - signalled < 60  # far below the 120 s silence and the 300 s limit
    assert "interrupt" in err and "Traceback" not in err
    assert len(sim.requests) == 1  # not retried after the interrupt


def test_sigint_stops_a_running_command(sim: ProviderSimulator, wire_setup: list[str], tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    sim.script(Reply(ToolCall("terminal", {"command": "echo $$ > pid; echo started; sleep 30"})))
    sim.behaviour(lambda request: Reply(Text("must not be asked")))
    proc = start_cli(tmp_path, *wire_setup, "--workdir", str(work), "-q", "run it")
    pid_file = work / "pid"
    try:
        assert wait_for(lambda: pid_file.exists() and pid_file.read_text().strip() != ""), "the command never ran"
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    signalled = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = stop(proc)
    assert proc.returncode == 130, err
    assert time.monotonic() - signalled < 15  # the 30 s sleep was cut short
    assert "stopping the running tool" in err
    assert "✗ terminal" in err and "interrupted by the user; the command was stopped" in err
    assert out == ""
    assert len(sim.requests) == 1  # no new model call after the interrupt
    assert wait_for(lambda: is_gone(int(pid_file.read_text())))


def test_a_long_task_on_a_small_window_reports_its_context(
    sim: ProviderSimulator, wire_setup: list[str], tmp_path: Path
) -> None:
    from agent.context.compaction import SUMMARY_REQUEST_MARK
    from agent.testing import LongTaskModel, part_answer, part_path

    model_id = wire_setup[wire_setup.index("--model") + 1]
    sim.set_context_window(model_id, 8_000)
    sim.behaviour(LongTaskModel(SUMMARY_REQUEST_MARK))
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        f'[models."{model_id}"]\ncontext_window = 8000\n\n[compaction]\nthreshold = 0.7\nkeep_tool_rounds = 3\n'
    )
    work = tmp_path / "work"
    keys = {}
    for n in range(1, 31):
        path = work / part_path("data", n)
        path.parent.mkdir(parents=True, exist_ok=True)
        keys[n] = f"KEY-{n:03d}-abcdef{n:06d}"
        path.write_text(keys[n] + "\n" + "filler line of the part, long enough to matter\n" * 40)
    trace = tmp_path / "trace.jsonl"
    proc = run_cli(
        tmp_path, *wire_setup, "--workdir", str(work), "--json", "--max-iterations", "80",
        "--trace-stream", str(trace), "-q", "Process parts 1 to 30.",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    context = result["context"]
    assert context["window"] == 8_000 and 0 < context["peak_fill"] <= 0.7
    assert context["compactions"] >= 1 and context["trimmed_results"] >= 1 and context["summary_tokens_spent"] > 0
    assert result["events"]["compacted"] == context["compactions"] and result["events"]["context_fill"] > 30
    assert "≋ context: " in proc.stderr and "earlier messages replaced by a" in proc.stderr
    lines = [json.loads(line) for line in trace.read_text().splitlines()]
    assert any(line["kind"] == "compacted" for line in lines)
    assert any(line["kind"] == "context_trimmed" for line in lines)
    assert all(r.rejected is None for r in sim.requests)
    assert all((work / part_path("out", n)).read_text() == part_answer(key) for n, key in keys.items())
