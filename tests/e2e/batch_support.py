"""Shared pieces of the batch tests: a simulated model that plays many tasks at once, the
task file, and ``stayline batch`` as a subprocess.

``BatchModel`` is a simulator behaviour. It tells tasks apart by the ``TASK <id>`` that
starts every prompt, and plays each one as a small tool loop: read ``input.txt`` (laid in
by the task's ``files``), write ``step<N>.txt`` files, then answer. Per task it can stall a
step (a stream that goes silent), answer a step with a 429 and ``retry-after``, or hold its
final answer until the test releases a gate, so a test decides what is in flight when.
Every request is logged with the task, the step and the simulator's arrival time.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.testing import HttpError, ProviderSimulator, RecordedRequest, Reply, Silence, Text, ToolCall
from agent.testing.script import Outcome
from tests.e2e.test_cli_e2e import ROOT, cli_env

RUN_TIMEOUT = 600.0  # a safety net for a hung run (Ray on a loaded machine is slow), not a speed assertion
_TASK = re.compile(r"TASK (\S+?):")


@dataclass
class TaskPlan:
    """How the simulated model plays one task."""

    steps: int = 3  # write_file steps after the read
    stall_at: int | None = None  # this step's first attempt goes silent
    rate_limit_at: int | None = None  # this step's first attempt gets a 429
    retry_after: float = 1.0
    rate_limit_when: Callable[[], bool] | None = None  # the 429 waits until this is true
    hold: threading.Event | None = None  # the final answer waits for this gate
    open_ended: Callable[[], bool] | None = None  # keep writing steps while this is true


@dataclass(frozen=True)
class Logged:
    """One request the model saw."""

    task: str
    step: int
    attempt: int
    at: float  # time.monotonic() of arrival (a 429: of sending), as RecordedRequest.received_at
    outcome: str  # "reply", "final", "stall", "429"


def task_id_of(request: RecordedRequest) -> str:
    for message in request.body.get("messages") or []:
        content = message.get("content")
        texts = [content] if isinstance(content, str) else [b.get("text", "") for b in content or []]
        for text in texts:
            match = _TASK.search(text or "")
            if match:
                return match.group(1)
    raise AssertionError(f"request {request.index} names no task")


def _step_of(request: RecordedRequest) -> int:
    return sum(1 for m in request.body.get("messages") or [] if m.get("role") == "assistant")


def _last_tool_result(request: RecordedRequest) -> str:
    """The content of the first tool result in the history (the read of input.txt)."""
    for message in request.body.get("messages") or []:
        if message.get("role") == "tool":
            return str(message.get("content"))
        for block in message.get("content") if isinstance(message.get("content"), list) else []:
            if block.get("type") == "tool_result":
                content = block.get("content")
                if isinstance(content, list):
                    return "".join(part.get("text", "") for part in content)
                return str(content)
    return ""


def expected_output(task_id: str) -> str:
    """What the model writes into every step file of a task (from its input.txt)."""
    return f"{task_id}: " + seed_of(task_id).upper()


def seed_of(task_id: str) -> str:
    return f"seed of {task_id}"


class BatchModel:
    """The simulated model of a batch (see the module docstring)."""

    def __init__(self, plans: dict[str, TaskPlan] | None = None, latency: float = 0.05) -> None:
        self.plans = plans or {}
        self.latency = latency
        self.log: list[Logged] = []
        self._attempts: Counter[tuple[str, int]] = Counter()
        self._lock = threading.Lock()

    def plan(self, task: str) -> TaskPlan:
        return self.plans.get(task) or TaskPlan()

    def __call__(self, request: RecordedRequest) -> Outcome:
        task = task_id_of(request)
        step = _step_of(request)
        plan = self.plan(task)
        with self._lock:
            self._attempts[(task, step)] += 1
            attempt = self._attempts[(task, step)]
        outcome, kind = self._decide(request, task, step, attempt, plan)
        # A 429 may wait for its condition long after its request arrived: it counts from when it is sent.
        at = time.monotonic() if kind == "429" else request.received_at
        with self._lock:
            self.log.append(Logged(task, step, attempt, at, kind))
        if kind == "final" and plan.hold is not None:
            plan.hold.wait(60)  # logged first: the test sees that the task is being held
        return outcome

    def _decide(self, request: RecordedRequest, task: str, step: int, attempt: int, plan: TaskPlan) -> Any:
        if plan.stall_at == step and attempt == 1:
            return Reply(Silence(30)), "stall"  # before any text: the retry resends the same history
        if plan.rate_limit_at == step and attempt == 1:
            if plan.rate_limit_when is not None:
                assert wait_for(plan.rate_limit_when, 30), "the condition for the 429 never came"
            headers = {"retry-after": f"{plan.retry_after:g}"}
            return HttpError(429, "rate limited: slow down", "rate_limit_error", headers=headers), "429"
        if step == 0:
            return Reply(
                Text("Reading the input."), ToolCall("read_file", {"path": "input.txt"}), delay_headers=self.latency
            ), "reply"
        if step <= plan.steps or (plan.open_ended is not None and plan.open_ended()):
            line = _last_tool_result(request).splitlines()[-1]
            content = f"{task}: {line.upper()}"
            call = ToolCall("write_file", {"path": f"step{step}.txt", "content": content})
            return Reply(Text(f"Step {step}."), call, delay_headers=self.latency), "reply"
        return Reply(Text(f"done {task}"), delay_headers=self.latency), "final"

    def requests_of(self, task: str) -> list[Logged]:
        with self._lock:
            return [entry for entry in self.log if entry.task == task]

    def first_at(self, outcome: str) -> float | None:
        """When the first request with this outcome arrived (simulator clock)."""
        with self._lock:
            return next((entry.at for entry in self.log if entry.outcome == outcome), None)

    def requests_during_pause(self, pause: float, grace: float) -> list[Logged]:
        """Requests that broke the shared pause after the first 429. ``grace`` seconds are left
        for the limiter to hear of the 429 (a generous margin: on a loaded machine that takes a
        while); after that no lease is granted, so each other task may still send the one
        request it was granted just before, and the limited task none. Half a second is left
        at the end (the pause cannot end early: it starts when the limiter hears of it)."""
        hit = self.first_at("429")
        assert hit is not None, "no 429 was sent"
        with self._lock:
            during = [entry for entry in self.log if hit + grace < entry.at < hit + pause - 0.5]
            limited = {entry.task for entry in self.log if entry.outcome == "429"}
        seen: set[str] = set()
        broken: list[Logged] = []
        for entry in during:
            if entry.task in limited or entry.task in seen:
                broken.append(entry)
            seen.add(entry.task)
        return broken

    def finals(self) -> Counter[str]:
        with self._lock:
            return Counter(entry.task for entry in self.log if entry.outcome == "final")

    def tasks_seen_after(self, index: int) -> set[str]:
        with self._lock:
            return {entry.task for entry in self.log[index:]}


def task_line(task_id: str, **extra: Any) -> dict[str, Any]:
    line: dict[str, Any] = {
        "id": task_id,
        "prompt": f"TASK {task_id}: copy input.txt into the step files, upper-cased",
        "files": {"input.txt": seed_of(task_id) + "\n"},
    }
    line.update(extra)
    return line


def write_tasks(path: Path, lines: Iterable[dict[str, Any] | str]) -> Path:
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    path.write_text(text, encoding="utf-8")
    return path


def read_results(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def provider_flags(sim: ProviderSimulator) -> list[str]:
    return ["--provider", "anthropic", "--base-url", sim.base_url, "--api-key", "k", "--model", "claude-sonnet-4-6"]


def batch_argv(tasks: Path, out: Path, *flags: str) -> list[str]:
    return [sys.executable, "run_agent.py", "batch", str(tasks), "--out", str(out), *flags]


def run_batch_cli(tmp_path: Path, tasks: Path, out: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        batch_argv(tasks, out, *flags),
        cwd=ROOT,
        env=cli_env(tmp_path),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=RUN_TIMEOUT,
    )


def start_batch_cli(tmp_path: Path, tasks: Path, out: Path, *flags: str) -> subprocess.Popen[str]:
    """The batch in a session of its own, so the test can find all of its processes."""
    return subprocess.Popen(
        batch_argv(tasks, out, *flags),
        cwd=ROOT,
        env=cli_env(tmp_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        start_new_session=True,
    )


def wait_for(condition: Callable[[], bool], seconds: float = 300.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def latest_statuses(records: list[dict[str, Any]]) -> dict[str, str]:
    latest: dict[str, str] = {}
    for record in records:
        latest[str(record["id"])] = record["status"]
    return latest


def assert_task_files(workdirs: Path, task: str, plan: TaskPlan) -> None:
    workdir = workdirs / task
    assert (workdir / "input.txt").read_text() == seed_of(task) + "\n"
    for step in range(1, plan.steps + 1):
        assert (workdir / f"step{step}.txt").read_text() == expected_output(task), (task, step)
