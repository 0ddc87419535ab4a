"""kill -9 while a tool runs, then resume twice (issue 10, point 4): the process is a real
``run_agent.py`` against the simulator; every later request must be valid on the wire
and the killed call must read as "outcome unknown", never "not executed".

Timeouts are generous safety nets, not assertions about speed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

from agent.sessions import OUTCOME_UNKNOWN
from agent.testing import ProviderSimulator, Reply, Text, ToolCall
from tests.e2e.test_cli_sessions import ROOT, cli_env, home, messages_text, run_cli, wire_setup, work

__all__ = ["home", "wire_setup", "work"]  # fixtures shared with the CLI session tests

WAIT = 30.0


def _wait_for(path: Path, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_kill_9_during_a_tool_then_two_resumes(
    sim: ProviderSimulator, home: Path, work: Path, wire_setup: list[str]
) -> None:
    # The command records its process group, says it started, and then runs for a long time.
    command = "echo $$ > pgid.txt && touch started.flag && sleep 120"
    sim.script(Reply(Text("Running it."), ToolCall("terminal", {"command": command})))
    proc = subprocess.Popen(
        [sys.executable, "run_agent.py", *wire_setup, "--workdir", str(work), "-q", "run the long job"],
        cwd=ROOT,
        env=cli_env(home),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(work / "started.flag")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=WAIT)
    finally:
        with suppress(ProcessLookupError, ValueError, FileNotFoundError):
            os.killpg(int((work / "pgid.txt").read_text().strip()), signal.SIGKILL)  # the orphaned sleep
        if proc.poll() is None:
            proc.kill()

    for turn, answer in enumerate(("Checked the job first.", "Still all valid."), start=1):
        sim.script(Reply(Text(answer)))
        done = run_cli(home, *wire_setup, "--workdir", str(work), "--continue", "-q", f"turn {turn}")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == answer
        request = sim.requests[-1]
        assert request.rejected is None
        sent = messages_text(request)
        assert OUTCOME_UNKNOWN.split(":")[0] in sent and "not executed" not in sent
    assert len(sim.requests) == 3 and all(r.rejected is None for r in sim.requests)
