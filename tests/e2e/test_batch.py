"""``stayline batch`` end to end on the local engine: the real CLI as a subprocess, worker
processes, the real SDKs, and the provider simulator (in this process) as the model.

Timing is never asserted: gates (events the simulated model waits on) decide what is in
flight when a test kills or interrupts the batch, and the rate-limit test checks an empty
window well inside the pause (two seconds of margin after the 429, half a second before
its end).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from agent.testing import ProviderSimulator
from tests.e2e.batch_support import (
    RUN_TIMEOUT,
    BatchModel,
    TaskPlan,
    assert_task_files,
    group_members,
    latest_statuses,
    provider_flags,
    read_results,
    run_batch_cli,
    start_batch_cli,
    task_line,
    wait_for,
    write_tasks,
)

FLAGS = ("--stale-timeout", "1.5", "--workers", "3")


@pytest.fixture
def sim() -> Any:
    with ProviderSimulator() as simulator:
        yield simulator


def test_a_batch_of_tool_loops_with_stalls_and_429s_completes(sim: ProviderSimulator, tmp_path: Path) -> None:
    plans = {
        "t1": TaskPlan(steps=3),
        "t2": TaskPlan(steps=2, stall_at=1),
        "t3": TaskPlan(steps=3, rate_limit_at=2),
        "t4": TaskPlan(steps=2, stall_at=2, rate_limit_at=1),
        "t5": TaskPlan(steps=1),
    }
    model = BatchModel(plans)
    sim.behaviour(model)
    lines: list[Any] = [task_line(t, metadata={"n": i}) for i, t in enumerate(plans)]
    lines.insert(2, '{"id": "broken", "promt": "typo"}')
    lines.append("not json at all")
    tasks = write_tasks(tmp_path / "tasks.jsonl", lines)
    out = tmp_path / "results.jsonl"
    trajectories = tmp_path / "trajectories"

    done = run_batch_cli(tmp_path, tasks, out, *provider_flags(sim), *FLAGS, "--trajectories", str(trajectories))

    assert done.returncode == 1, done.stderr  # the bad lines make it 1; every task completed
    assert "line 3: unknown key 'promt'" in done.stderr
    assert "line 7: not valid JSON" in done.stderr
    assert "2 bad task lines (not run)" in done.stdout
    records = {r["id"]: r for r in read_results(out)}
    assert sorted(records) == sorted(plans)
    for task, plan in plans.items():
        record = records[task]
        assert record["status"] == "completed", record["error"]
        assert record["final_text"] == f"done {task}"
        assert record["metadata"] == {"n": list(plans).index(task)}
        assert_task_files(Path(record["workdir"]).parent, task, plan)
        assert record["stalls"] == (1 if plan.stall_at is not None else 0)
        assert record["retries"] == (plan.stall_at is not None) + (plan.rate_limit_at is not None)
        assert record["api_calls"] == plan.steps + 2 + record["retries"]
        usage = record["usage"]  # as the agent reports it: input split from cache reads and writes
        assert usage["output_tokens"] > 0 and "input_tokens" in usage
        chat = record["trajectory"]
        assert [m["role"] for m in chat[:3]] == ["system", "user", "assistant"]
        assert chat[2]["tool_calls"][0]["function"]["name"] == "read_file"
        assert chat[-1] == {"role": "assistant", "content": f"done {task}"}
        assert (trajectories / f"{task}.history.json").is_file()
        assert '"kind":"summary"' in (trajectories / f"{task}.trace.jsonl").read_text()
    assert "completed 5 · failed 0 · interrupted 0" in done.stdout


def test_kill_9_mid_batch_then_a_rerun_completes_exactly_the_missing_tasks(
    sim: ProviderSimulator, tmp_path: Path
) -> None:
    gate = threading.Event()
    held = ("t6", "t7", "t8")
    plans = {f"t{i}": TaskPlan(steps=2, hold=gate if f"t{i}" in held else None) for i in range(1, 9)}
    model = BatchModel(plans)
    sim.behaviour(model)
    tasks = write_tasks(tmp_path / "tasks.jsonl", [task_line(t) for t in plans])
    out = tmp_path / "results.jsonl"

    batch = start_batch_cli(tmp_path, tasks, out, *provider_flags(sim), *FLAGS)
    try:
        # Five tasks can finish; the held ones cannot until the gate opens.
        assert wait_for(lambda: len(read_results(out)) >= 3), "no results arrived"
        os.kill(batch.pid, signal.SIGKILL)
        batch.communicate(timeout=300)
        # The workers notice their parent is gone and exit: nothing runs behind our back.
        assert wait_for(lambda: group_members(batch.pid) == [], 30), group_members(batch.pid)
    finally:
        if batch.poll() is None:
            batch.kill()
        gate.set()
    first_run = latest_statuses(read_results(out))
    assert set(first_run.values()) == {"completed"}
    assert not set(first_run) & set(held)
    mark = len(model.log)

    done = run_batch_cli(tmp_path, tasks, out, *provider_flags(sim), *FLAGS)

    assert done.returncode == 0, done.stderr
    missing = set(plans) - set(first_run)
    assert model.tasks_seen_after(mark) == missing  # done tasks got not one request
    records = read_results(out)
    assert sorted(r["id"] for r in records) == sorted(plans)  # one line each: none ran twice
    assert all(r["status"] == "completed" for r in records)
    assert f"{len(first_run)} already done (skipped)" in done.stdout


def test_a_429_with_retry_after_pauses_every_worker_of_the_key(sim: ProviderSimulator, tmp_path: Path) -> None:
    pause = 8.0
    model = BatchModel(latency=0.05)

    def busy() -> bool:  # the other tasks keep working until well after the pause
        hit = model.first_at("429")
        return hit is None or time.monotonic() < hit + pause + 1.5

    def others_at_work() -> bool:  # the 429 comes while the others are mid-task
        return sum(1 for e in model.log if e.task in ("b", "c")) >= 4

    model.plans = {
        "limited": TaskPlan(steps=2, rate_limit_at=2, retry_after=pause, rate_limit_when=others_at_work),
        "b": TaskPlan(steps=1, open_ended=busy),
        "c": TaskPlan(steps=1, open_ended=busy),
    }
    sim.behaviour(model)
    tasks = write_tasks(tmp_path / "tasks.jsonl", [task_line(t) for t in model.plans])
    out = tmp_path / "results.jsonl"

    done = run_batch_cli(
        tmp_path, tasks, out, *provider_flags(sim), "--stale-timeout", "3", "--workers", "3"
    )  # the pause outlasts the limit

    assert done.returncode == 0, done.stderr
    hit = model.first_at("429")
    assert hit is not None
    broken = model.requests_during_pause(pause, grace=4.0)
    assert broken == [], f"requests arrived during the shared pause: {broken}"
    for task in ("b", "c"):
        assert any(e.at >= hit + pause for e in model.requests_of(task)), f"{task} never resumed"
    records = {r["id"]: r for r in read_results(out)}
    assert all(r["status"] == "completed" for r in records.values())
    # Waiting for the pause to end is not a stall, although it is longer than the limit.
    assert records["b"]["stalls"] == records["c"]["stalls"] == 0
    assert records["limited"]["retries"] == 1


def test_ctrl_c_interrupts_the_running_tasks_and_leaves_a_resumable_output(
    sim: ProviderSimulator, tmp_path: Path
) -> None:
    gate = threading.Event()
    held = ("t2", "t3", "t4")
    plans = {f"t{i}": TaskPlan(steps=1, hold=gate if f"t{i}" in held else None) for i in range(1, 7)}
    model = BatchModel(plans)
    sim.behaviour(model)
    tasks = write_tasks(tmp_path / "tasks.jsonl", [task_line(t) for t in plans])
    out = tmp_path / "results.jsonl"
    flags = ("--stale-timeout", "30", "--workers", "3")

    batch = start_batch_cli(tmp_path, tasks, out, *provider_flags(sim), *flags)
    try:
        # t1 completes; then all three workers wait at the final answers of t2, t3 and t4.
        assert wait_for(lambda: set(held) <= {e.task for e in model.log if e.step == 2}), "tasks never held"
        assert wait_for(lambda: "t1" in latest_statuses(read_results(out)))
        os.kill(batch.pid, signal.SIGINT)
        stdout, stderr = batch.communicate(timeout=300)
    finally:
        if batch.poll() is None:
            batch.kill()
        gate.set()

    assert batch.returncode == 130, stderr
    assert "stopping: no new tasks" in stderr
    first = read_results(out)
    assert latest_statuses(first) == {"t1": "completed", "t2": "interrupted", "t3": "interrupted", "t4": "interrupted"}
    assert all(r["cause"] == "interrupted" and r["error"] for r in first if r["status"] == "interrupted")
    assert "2 not started (stopped)" in stdout and "is resumable" in stdout
    mark = len(model.log)

    done = run_batch_cli(tmp_path, tasks, out, *provider_flags(sim), *flags)

    assert done.returncode == 0, done.stderr
    assert model.tasks_seen_after(mark) == set(plans) - {"t1"}
    records = read_results(out)
    assert latest_statuses(records) == dict.fromkeys(plans, "completed")
    completed = [r["id"] for r in records if r["status"] == "completed"]
    assert sorted(completed) == sorted(plans)  # each task completed exactly once


def test_a_worker_that_dies_is_reported_and_the_others_complete(sim: ProviderSimulator, tmp_path: Path) -> None:
    from agent.testing import Reply, Text, ToolCall

    model = BatchModel({"t1": TaskPlan(steps=1), "t2": TaskPlan(steps=1)})

    def behaviour(request: Any) -> Any:
        from tests.e2e.batch_support import task_id_of

        if task_id_of(request) == "doomed":  # the task's own shell kills its worker process
            return Reply(Text("Oops."), ToolCall("terminal", {"command": "kill -9 $PPID"}))
        return model(request)

    sim.behaviour(behaviour)
    lines = [task_line("t1"), task_line("doomed"), task_line("t2")]
    tasks = write_tasks(tmp_path / "tasks.jsonl", lines)
    out = tmp_path / "results.jsonl"

    done = run_batch_cli(tmp_path, tasks, out, *provider_flags(sim), *FLAGS, "--yolo")

    assert done.returncode == 1, done.stderr
    records = {r["id"]: r for r in read_results(out)}
    assert records["t1"]["status"] == records["t2"]["status"] == "completed"
    lost = records["doomed"]
    assert lost["status"] == "failed" and lost["cause"] == "worker_lost"
    assert "killed by signal 9" in lost["error"] and "--retry-failed" in lost["error"]
    assert "worker_lost 1" in done.stdout


def test_run_batch_yields_each_result_as_its_task_finishes(sim: ProviderSimulator, tmp_path: Path) -> None:
    from agent.batch import LocalEngine, Task, run_batch
    from agent.config import Settings
    from tests.e2e.batch_support import seed_of

    gate = threading.Event()
    names = ["slow", "a", "b", "c", "d", "e"]
    plans = {name: TaskPlan(steps=1, hold=gate if name == "slow" else None) for name in names}
    model = BatchModel(plans)
    sim.behaviour(model)
    settings = Settings(
        provider="anthropic", model="claude-sonnet-4-6", base_url=sim.base_url, api_key="k", stale_timeout=30.0
    )
    tasks = [Task(name, f"TASK {name}: go", files={"input.txt": seed_of(name) + "\n"}) for name in names]
    # Two workers that are replaced after every second task: five tasks pass through one
    # worker while the other waits on "slow".
    engine = LocalEngine(workers=2, tasks_per_worker=2)
    yielded: list[Any] = []
    others_done = threading.Event()

    def consume() -> None:  # in a thread, so that a stuck batch fails the test instead of hanging it
        for result in run_batch(tasks, engine, out=tmp_path / "r.jsonl", settings=settings):
            yielded.append(result)
            if len(yielded) == len(names) - 1:
                others_done.set()

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    try:
        assert others_done.wait(RUN_TIMEOUT), f"only {[r.id for r in yielded]} came"
        assert sorted(r.id for r in yielded) == sorted(names[1:])  # "slow" is still held at its answer
    finally:
        gate.set()
        consumer.join(RUN_TIMEOUT)
        if consumer.is_alive():
            engine.kill()
    assert not consumer.is_alive()
    assert yielded[-1].id == "slow" and all(r.ok for r in yielded)
    for name in names:
        assert_task_files(tmp_path / "r.workdirs", name, plans[name])
