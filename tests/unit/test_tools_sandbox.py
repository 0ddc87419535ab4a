"""The terminal tool's optional sandbox (bubblewrap).

Tests that need a working bubblewrap skip, saying why, where it is missing or cannot
create namespaces; the messages for those two cases are tested everywhere.
"""

from __future__ import annotations

import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.cli.main import main
from tests.sandbox_probe import escape_target
from tools import ToolContext, ToolRegistry, builtin_tools
from tools.sandbox import Sandbox, sandbox_problem
from tools.terminal import run_command

TIMEOUT = 60.0  # for commands that finish at once: generous, never a speed claim


@pytest.fixture
def work(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


def working_sandbox(work: Path, network: bool = False) -> Sandbox:
    sandbox = Sandbox(network=network)
    problem = sandbox_problem(sandbox, work)
    if problem is not None:
        pytest.skip(f"bubblewrap is not usable here: {problem}")
    return sandbox


@pytest.fixture
def listener() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def test_the_workdir_is_writable_and_the_rest_read_only(work: Path, tmp_path: Path) -> None:
    sandbox = working_sandbox(work)
    outside = escape_target(".sandbox-probe")
    try:
        command = f"echo inside > made.txt && cat made.txt; echo escaped > {outside}; echo status $?"
        result = run_command(command, work, TIMEOUT, 10_000, sandbox=sandbox)
        assert (work / "made.txt").read_text() == "inside\n"
        assert not outside.exists()
        assert "Read-only file system" in result.output and "status 1" in result.output
    finally:
        outside.unlink(missing_ok=True)


def test_tmp_is_private_to_the_sandbox(work: Path, tmp_path: Path) -> None:
    sandbox = working_sandbox(work)
    beside = tmp_path / "beside-the-workdir.txt"  # under the real /tmp, outside the workdir
    result = run_command(f"echo x > {beside} && echo wrote", work, TIMEOUT, 10_000, sandbox=sandbox)
    assert "wrote" in result.output  # a scratch /tmp for compilers and tests...
    assert not beside.exists()  # ...that is gone with the command


def test_no_network_unless_allowed(work: Path, listener: int) -> None:
    connect = f"exec 3<>/dev/tcp/127.0.0.1/{listener} && echo connected || echo refused"
    closed = run_command(connect, work, TIMEOUT, 10_000, sandbox=working_sandbox(work))
    assert "refused" in closed.output and "connected" not in closed.output
    opened = run_command(connect, work, TIMEOUT, 10_000, sandbox=working_sandbox(work, network=True))
    assert "connected" in opened.output


def test_the_agents_processes_are_not_visible(work: Path) -> None:
    result = run_command(
        "cat /proc/$PPID/environ | tr '\\0' '\\n'",
        work,
        TIMEOUT,
        10_000,
        env={"ONLY": "this"},
        sandbox=working_sandbox(work),
    )
    assert "ONLY=this" in result.output
    assert "PATH=" not in result.output  # the sandbox's own init, started with our environment


def test_a_timeout_stops_every_process_in_the_sandbox(work: Path) -> None:
    marker = "299.25"  # an unusual duration, to find the processes again
    result = run_command(f"sleep {marker} & sleep {marker}", work, 1, 10_000, sandbox=working_sandbox(work))
    assert result.timed_out
    left = []
    for entry in Path("/proc").iterdir():
        try:
            running = entry.name.isdigit() and marker in (entry / "cmdline").read_bytes().decode(errors="replace")
            if running and (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
                left.append(entry.name)
        except OSError:
            continue
    assert left == []


def test_missing_bubblewrap_says_what_to_install(work: Path) -> None:
    problem = sandbox_problem(Sandbox(bwrap="stayline-no-such-bwrap"), work)
    assert problem is not None
    assert "not installed" in problem and "apt-get install bubblewrap" in problem and "without --sandbox" in problem


def test_bubblewrap_without_namespaces_says_so(work: Path, tmp_path: Path) -> None:
    fake = tmp_path / "fake-bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    problem = sandbox_problem(Sandbox(bwrap=str(fake)), work)
    assert problem is not None
    assert "cannot create its sandbox here: bwrap: No permissions to create new namespace" in problem
    assert "user namespaces" in problem


def test_the_terminal_never_runs_unconfined_when_bubblewrap_is_gone(work: Path) -> None:
    ctx = ToolContext(work, sandbox=Sandbox(bwrap="stayline-no-such-bwrap"))
    outcome = ToolRegistry(builtin_tools()).execute("terminal", {"command": "echo ran > ran.txt"}, ctx)
    assert outcome.is_error and "not run" in outcome.content and "bubblewrap" in outcome.content
    assert not (work / "ran.txt").exists()


def test_the_sandbox_flag_fails_clearly_without_bubblewrap(
    work: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("STAYLINE_HOME", str(tmp_path / "home"))
    argv = ["--sandbox", "-q", "hi", "--provider", "custom", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"]
    assert main([*argv, "--workdir", str(work), "--no-session"]) == 2
    err = capsys.readouterr().err
    assert "--sandbox needs bubblewrap" in err and "apt-get install bubblewrap" in err
