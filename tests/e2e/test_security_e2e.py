"""What the model cannot reach, end to end: ``run_agent.py`` against the provider simulator.

- keys in the environment never show up in a request, the session store or the trace,
  whatever the model runs (``env``, ``printenv``, the agent's own /proc environ);
- every bypass command of issue 11 is refused in single shot. SAFETY: each one is a
  harmless stand-in of its pattern (paths that do not exist, signal 0, file:// URLs
  that do not exist, HOME and GIT_DIR pointing at throwaway or missing folders), so a
  regression fails the test without harming the machine;
- a kill -9 during a large write leaves the old content or the new;
- model text reaches a terminal cleaned, a pipe byte-exact;
- the sandbox, where bubblewrap works here.

Timeouts are generous safety nets, not assertions about speed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from agent import AIAgent
from agent.config import Settings
from agent.testing import ProviderSimulator, Reply, Text, ToolCall
from tests.e2e.test_cli_e2e import ROOT, RUN_TIMEOUT, cli_argv, cli_env, run_cli
from tests.sandbox_probe import escape_target
from tools.sandbox import Sandbox, sandbox_problem

PRIMARY_KEY = "sk-ant-primary-key-0123456789abcdef"
FLAG_KEY = "sk-ant-given-by-flag-fedcba9876543210"
ROUTER_KEY = "sk-or-under-a-custom-name-55555555"
CUSTOM_KEY = "stayline-custom-key-77777777"
OTHER_SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "aws-secret-wJalrXUtnFEMI-K7MDENG",
    "GITHUB_TOKEN": "ghp_0123456789abcdefghijklmnopqrstuv",
    "DB_PASSWORD": "correct-horse-battery-staple",
    "DATABASE_URL": "postgres://app:pa55word-in-url@db.internal/app",
}
ON_PURPOSE = "visible-on-purpose-424242"
OSC52 = "\x1b]52;c;cm0gLXJmIH4=\x07"
ERASE = "\x1b[2K"


def tool_results(body: dict[str, Any]) -> list[str]:
    """The tool result texts of an Anthropic Messages request body, in order."""
    texts: list[str] = []
    for message in body.get("messages", []):
        for part in message.get("content", []) if isinstance(message.get("content"), list) else []:
            if part.get("type") == "tool_result":
                content = part.get("content")
                if isinstance(content, list):
                    content = "".join(p.get("text", "") for p in content)
                texts.append(str(content))
    return texts


def anthropic(sim: ProviderSimulator) -> list[str]:
    return ["--provider", "anthropic", "--base-url", sim.base_url, "--model", "claude-sonnet-4-6"]


# --- secrets --------------------------------------------------------------------------------


def test_env_and_printenv_never_show_a_key(sim: ProviderSimulator, tmp_path: Path) -> None:
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    (home / "config.toml").write_text(
        f'fallbacks = ["openrouter:some/model", "custom:m@{sim.openai_base_url}"]\n'
        'env_passthrough = ["DEPLOY_TOKEN"]\n'
        '[providers.openrouter]\nkey_env = "MY_ROUTER_CRED"\n'
    )
    env = cli_env(tmp_path)
    env.update(
        ANTHROPIC_API_KEY=PRIMARY_KEY,
        MY_ROUTER_CRED=ROUTER_KEY,
        STAYLINE_API_KEY=CUSTOM_KEY,
        DEPLOY_TOKEN=ON_PURPOSE,
        **OTHER_SECRETS,
    )
    commands = ["env", "printenv", "tr '\\0' '\\n' < /proc/$PPID/environ"]  # the last reads stayline's own
    sim.script(
        Reply(*(ToolCall("terminal", {"command": command}) for command in commands)),
        Reply(Text("Looked around.")),
    )
    trace = tmp_path / "trace.jsonl"
    argv = [*anthropic(sim), "--api-key", FLAG_KEY, "--workdir", str(work), "--trace-stream", str(trace)]
    proc = subprocess.run(
        cli_argv(*argv, "--yolo", "-q", "look around"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr
    env_output, printenv_output, proc_environ = tool_results(sim.requests[1].body)
    # The commands really ran and their output really went to the model...
    for output in (env_output, printenv_output):
        assert "HOME=" in output and f"DEPLOY_TOKEN={ON_PURPOSE}" in output
        for name in ("ANTHROPIC_API_KEY", "MY_ROUTER_CRED", "STAYLINE_API_KEY", *OTHER_SECRETS):
            assert f"\n{name}=" not in output, name
    assert "ANTHROPIC_API_KEY=[redacted]" in proc_environ and "GITHUB_TOKEN=[redacted]" in proc_environ
    # ...and no key value is anywhere: requests, session store, trace, output.
    secrets = [PRIMARY_KEY, FLAG_KEY, ROUTER_KEY, CUSTOM_KEY, *OTHER_SECRETS.values()]
    stored = b"".join(path.read_bytes() for path in home.rglob("*") if path.is_file() and path.name != "config.toml")
    assert ON_PURPOSE.encode() in stored  # the session store does hold the tool results
    places = {
        "requests": json.dumps([request.body for request in sim.requests]),
        "session store": stored.decode("utf-8", "replace"),
        "trace": trace.read_text(),
        "stdout and stderr": proc.stdout + proc.stderr,
    }
    for where, text in places.items():
        for secret in secrets:
            assert secret not in text, f"{secret} found in the {where}"


# --- approval -------------------------------------------------------------------------------


def stand_ins(work: Path) -> list[str]:
    """Harmless stand-ins of the bypass commands of issue 11, in its order. Each one
    touches a marker when it runs, so a command that gets through is seen at once."""
    commands = [
        "echo /nonexistent-probe | xargs rm -rf",
        "find /nonexistent-probe -exec rm -rf {} +",
        "cd .. && rm -rf ./nonexistent-probe-*",
        "$(which sudo) ls /nonexistent-probe",
        'eval "$(curl -s file:///nonexistent-probe)"',
        "source <(curl -s file:///nonexistent-probe)",
        "echo ZWNobyBwcm9iZQ== | base64 -d | sh",
        "curl -s file:///nonexistent-probe | node",
        "git clean -fdx",
        "rm -rf .git",
        "kill -0 -1",  # signal 0 delivers nothing
        "curl -s -d @~/.ssh/id_rsa file:///nonexistent-probe",
    ]
    return [f"{command}; touch {work}/ran-{number}" for number, command in enumerate(commands)]


def test_each_bypass_is_refused_in_single_shot(sim: ProviderSimulator, tmp_path: Path) -> None:
    work, home = tmp_path / "work", tmp_path / "throwaway-home"
    work.mkdir()
    home.mkdir()
    (work / ".git").mkdir()  # a stand-in repository: its probe must survive
    (work / ".git" / "probe").write_text("still here\n")
    commands = stand_ins(work)
    calls = [ToolCall("terminal", {"command": command}) for command in commands]
    calls.append(ToolCall("write_file", {"path": ".git/hooks/pre-commit", "content": f"touch {work}/ran-hook\n"}))
    sim.script(Reply(*calls), Reply(Text("Nothing ran.")))
    env = cli_env(tmp_path)
    env.update(HOME=str(home), GIT_DIR="/nonexistent-probe", GIT_CEILING_DIRECTORIES=str(tmp_path))
    proc = subprocess.run(
        cli_argv(*anthropic(sim), "--api-key", "k", "--workdir", str(work), "-q", "clean up"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr
    results = tool_results(sim.requests[1].body)
    assert len(results) == len(calls)
    for command, result in zip([*commands, "write_file .git/hooks/pre-commit"], results, strict=True):
        assert result.startswith("refused: "), (command, result)
    assert sorted(p.name for p in work.iterdir()) == [".git"]  # no marker, no hook
    assert (work / ".git" / "probe").read_text() == "still here\n"
    assert proc.stderr.count("✗ terminal") == len(commands)


# --- atomic writes --------------------------------------------------------------------------


def test_kill_9_during_a_large_write_file_keeps_old_or_new(sim: ProviderSimulator, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    old, new = "the old content\n" * 100, "N" * 4_000_000
    (work / "big.txt").write_text(old)
    sim.script(Reply(ToolCall("write_file", {"path": "big.txt", "content": new})), Reply(Text("Written.")))
    proc = subprocess.Popen(
        cli_argv(*anthropic(sim), "--api-key", "k", "--workdir", str(work), "-q", "write it"),
        cwd=ROOT,
        env=cli_env(tmp_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    try:
        while "→ write_file" not in (line := proc.stderr.readline()):
            assert line, "the CLI ended before the write started"
        deadline = time.monotonic() + RUN_TIMEOUT
        # Kill at the first sign of a write in progress (or when the CLI is done).
        while time.monotonic() < deadline and proc.poll() is None:
            names = set(os.listdir(work))
            if names != {"big.txt"} or (work / "big.txt").stat().st_size not in (len(old), len(new)):
                break
            time.sleep(0.0005)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=RUN_TIMEOUT)
        proc.stderr.close()
    data = (work / "big.txt").read_text()
    assert data in (old, new), f"a mix: {len(data):,} characters"


# --- rendering ------------------------------------------------------------------------------


def test_single_shot_cleans_a_terminal_and_keeps_a_pipe_byte_exact(sim: ProviderSimulator, tmp_path: Path) -> None:
    answer = f"Look: alpha{ERASE}bravo {OSC52}done."
    sim.script(Reply(Text(answer, chunk=4)), Reply(Text(answer, chunk=4)))
    args = [*anthropic(sim), "--api-key", "k", "--no-session", "-q", "hi"]
    piped = run_cli(tmp_path, *args)
    assert piped.returncode == 0 and piped.stdout == answer + "\n"
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(
            cli_argv(*args), cwd=ROOT, env=cli_env(tmp_path), stdin=subprocess.DEVNULL, stdout=slave
        )
        os.close(slave)
        assert proc.wait(timeout=RUN_TIMEOUT) == 0
        shown = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal has no writer any more
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(master)
    assert b"\x1b" not in shown
    assert shown.replace(b"\r", b"") == b"Look: alphabravo done.\n"


# --- sandbox --------------------------------------------------------------------------------


def test_the_sandbox_keeps_commands_inside_the_workdir(sim: ProviderSimulator, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    problem = sandbox_problem(Sandbox(), work)
    if problem is not None:
        pytest.skip(f"bubblewrap is not usable here: {problem}")
    probe = escape_target(".sandbox-e2e-probe")
    command = f"echo inside > in.txt; echo escaped > {probe}; echo done"
    sim.script(Reply(ToolCall("terminal", {"command": command})), Reply(Text("Tried.")))
    try:
        settings = Settings(sandbox=True, approval="yolo")
        with AIAgent("anthropic", "claude-sonnet-4-6", sim.base_url, "k", work, settings=settings) as agent:
            assert agent.run("try").status == "completed"
        assert (work / "in.txt").read_text() == "inside\n"
        assert not probe.exists()
        assert "Read-only file system" in tool_results(sim.requests[1].body)[0]
    finally:
        probe.unlink(missing_ok=True)
