"""``stayline batch --ray`` end to end on a local Ray instance.

One instance serves the whole module (it takes seconds to start on a small machine):
this process starts it through ``RayEngine`` (the no-address path), and each CLI run
joins it as a driver with ``--ray ADDRESS`` (the cluster path). The tests share one
xdist group so that they run in this one process.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.batch import RayEngine, Task, run_batch
from agent.config import Settings
from agent.testing import ProviderSimulator
from tests.e2e.batch_support import (
    RUN_TIMEOUT,
    BatchModel,
    TaskPlan,
    assert_task_files,
    latest_statuses,
    provider_flags,
    read_results,
    run_batch_cli,
    seed_of,
    start_batch_cli,
    task_line,
    wait_for,
    write_tasks,
)

pytest.importorskip("ray")
pytestmark = [pytest.mark.ray, pytest.mark.xdist_group("ray")]
RAY_WORKERS = 4


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    engine = RayEngine(workers=RAY_WORKERS)
    ray = engine.connect()
    try:
        yield str(ray.get_runtime_context().gcs_address)
    finally:
        engine.close()


@pytest.fixture
def sim() -> Any:
    with ProviderSimulator() as simulator:
        yield simulator


def flags(address: str, stale: str = "1.5") -> tuple[str, ...]:
    return ("--ray", address, "--workers", "3", "--stale-timeout", stale)


def test_ray_batch_with_stalls_and_a_shared_429_pause_completes(
    ray_address: str, sim: ProviderSimulator, tmp_path: Path
) -> None:
    pause = 8.0
    model = BatchModel(latency=0.05)

    def busy() -> bool:  # RecordedRequest.received_at is this process's time.monotonic()
        hit = model.first_at("429")
        return hit is None or time.monotonic() < hit + pause + 1.5

    def others_at_work() -> bool:
        return sum(1 for e in model.log if e.task in ("b", "c")) >= 4

    model.plans = {
        "limited": TaskPlan(steps=2, rate_limit_at=2, retry_after=pause, rate_limit_when=others_at_work),
        "b": TaskPlan(steps=1, stall_at=1, open_ended=busy),
        "c": TaskPlan(steps=1, open_ended=busy),
    }
    sim.behaviour(model)
    lines: list[Any] = [task_line(t) for t in model.plans]
    lines.append('{"id": 7}')
    tasks = write_tasks(tmp_path / "tasks.jsonl", lines)
    out = tmp_path / "results.jsonl"

    done = run_batch_cli(tmp_path, tasks, out, *provider_flags(sim), *flags(ray_address, stale="3"))

    assert done.returncode == 1, done.stderr  # the bad line; every task completed
    assert 'line 4: no "prompt"' in done.stderr
    records = {r["id"]: r for r in read_results(out)}
    assert all(r["status"] == "completed" for r in records.values()), records
    for task, plan in model.plans.items():
        assert_task_files(Path(records[task]["workdir"]).parent, task, TaskPlan(steps=plan.steps))
    assert records["b"]["stalls"] == 1
    hit = model.first_at("429")
    assert hit is not None
    broken = model.requests_during_pause(pause, grace=4.0)
    assert broken == [], f"requests arrived during the shared pause: {broken}"
    assert all(any(e.at >= hit + pause for e in model.requests_of(t)) for t in ("b", "c"))
    assert records["c"]["stalls"] == 0  # waiting out the pause is not a stall


def test_ray_kill_9_of_the_driver_then_a_rerun_completes_exactly_the_missing_tasks(
    ray_address: str, sim: ProviderSimulator, tmp_path: Path
) -> None:
    gate = threading.Event()
    held = ("t5", "t6")
    plans = {f"t{i}": TaskPlan(steps=1, hold=gate if f"t{i}" in held else None) for i in range(1, 7)}
    model = BatchModel(plans)
    sim.behaviour(model)
    tasks = write_tasks(tmp_path / "tasks.jsonl", [task_line(t) for t in plans])
    out = tmp_path / "results.jsonl"

    batch = start_batch_cli(tmp_path, tasks, out, *provider_flags(sim), *flags(ray_address))
    try:
        assert wait_for(lambda: len(read_results(out)) >= 2), "no results arrived"
        os.kill(batch.pid, signal.SIGKILL)
        batch.communicate(timeout=300)
    finally:
        if batch.poll() is None:
            batch.kill()
    first_run = latest_statuses(read_results(out))
    mark = len(model.log)
    gate.set()
    assert set(first_run.values()) == {"completed"} and not set(first_run) & set(held)

    done = run_batch_cli(tmp_path, tasks, out, *provider_flags(sim), *flags(ray_address))

    assert done.returncode == 0, done.stderr
    assert not model.tasks_seen_after(mark) & set(first_run)  # done tasks got not one request
    records = read_results(out)
    assert sorted(r["id"] for r in records) == sorted(plans)  # one line each
    assert all(r["status"] == "completed" for r in records)


def test_ray_ctrl_c_interrupts_the_running_tasks_and_leaves_a_resumable_output(
    ray_address: str, sim: ProviderSimulator, tmp_path: Path
) -> None:
    gate = threading.Event()
    held = ("t1", "t2", "t3")
    plans = {f"t{i}": TaskPlan(steps=1, hold=gate if f"t{i}" in held else None) for i in range(1, 6)}
    model = BatchModel(plans)
    sim.behaviour(model)
    tasks = write_tasks(tmp_path / "tasks.jsonl", [task_line(t) for t in plans])
    out = tmp_path / "results.jsonl"

    batch = start_batch_cli(tmp_path, tasks, out, *provider_flags(sim), *flags(ray_address, stale="60"))
    try:
        assert wait_for(lambda: set(held) <= {e.task for e in model.log if e.step == 2}), "tasks never held"
        os.kill(batch.pid, signal.SIGINT)
        stdout, stderr = batch.communicate(timeout=300)
    finally:
        if batch.poll() is None:
            batch.kill()
        gate.set()

    assert batch.returncode == 130, stderr
    assert latest_statuses(read_results(out)) == dict.fromkeys(held, "interrupted")
    assert "2 not started (stopped)" in stdout

    done = run_batch_cli(tmp_path, tasks, out, *provider_flags(sim), *flags(ray_address, stale="60"))

    assert done.returncode == 0, done.stderr
    records = read_results(out)
    assert latest_statuses(records) == dict.fromkeys(plans, "completed")
    assert sorted(r["id"] for r in records if r["status"] == "completed") == sorted(plans)


def test_run_batch_on_ray_yields_each_result_as_its_task_finishes(
    ray_address: str, sim: ProviderSimulator, tmp_path: Path
) -> None:
    gate = threading.Event()
    model = BatchModel({"slow": TaskPlan(steps=1, hold=gate), "fast": TaskPlan(steps=1)})
    sim.behaviour(model)
    settings = Settings(
        provider="anthropic", model="claude-sonnet-4-6", base_url=sim.base_url, api_key="k", stale_timeout=30.0
    )
    tasks = [Task(name, f"TASK {name}: go", files={"input.txt": seed_of(name)}) for name in ("slow", "fast")]
    engine = RayEngine(workers=2)
    yielded: list[Any] = []
    first = threading.Event()

    def consume() -> None:  # in a thread, so that a stuck batch fails the test instead of hanging it
        for result in run_batch(tasks, engine, out=tmp_path / "r.jsonl", settings=settings):
            yielded.append(result)
            first.set()

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    try:
        assert first.wait(RUN_TIMEOUT), "no result came"
        assert [r.id for r in yielded] == ["fast"] and yielded[0].ok  # "slow" cannot finish before the gate opens
    finally:
        gate.set()
        consumer.join(RUN_TIMEOUT)
        if consumer.is_alive():
            engine.kill()
    assert not consumer.is_alive()
    assert [r.id for r in yielded] == ["fast", "slow"] and yielded[1].ok


def test_ray_retries_a_lost_worker_but_never_a_model_error(
    ray_address: str, sim: ProviderSimulator, tmp_path: Path
) -> None:
    from agent.testing import HttpError, Reply, Text, ToolCall
    from tests.e2e.batch_support import task_id_of

    model = BatchModel({"lost-once": TaskPlan(steps=1)})
    attempts = {"lost-once": 0, "refused": 0}

    def behaviour(request: Any) -> Any:
        task = task_id_of(request)
        if task == "refused":
            attempts[task] += 1
            return HttpError(401, "invalid x-api-key", "authentication_error")
        if len(request.body["messages"]) == 1:  # a first request: a new attempt of the task
            attempts[task] += 1
            if attempts[task] == 1:  # the task's own shell kills the Ray worker running it
                return Reply(Text("Oops."), ToolCall("terminal", {"command": "kill -9 $PPID"}))
        return model(request)

    sim.behaviour(behaviour)
    tasks = write_tasks(tmp_path / "tasks.jsonl", [task_line("lost-once"), task_line("refused")])
    out = tmp_path / "results.jsonl"

    done = run_batch_cli(tmp_path, tasks, out, *provider_flags(sim), *flags(ray_address, stale="120"), "--yolo")
    # (a generous stall limit: on a loaded machine a late 401 must not count as a stall)

    assert done.returncode == 1, done.stderr
    records = {r["id"]: r for r in read_results(out)}
    assert records["lost-once"]["status"] == "completed" and attempts["lost-once"] == 2
    assert_task_files(Path(records["lost-once"]["workdir"]).parent, "lost-once", TaskPlan(steps=1))
    refused = records["refused"]
    assert (refused["status"], refused["cause"]) == ("failed", "auth")
    assert attempts["refused"] == 1  # stayline's policy does not retry a 401, and Ray does not either
