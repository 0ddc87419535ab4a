"""Batch throughput: tasks per minute on the local engine (1, 4 and 16 workers) and on a
local Ray instance (4 workers), against the simulator with a fixed latency per model call.

Every task is a small tool loop (``--calls`` model calls: write a file, ..., answer);
each model call waits ``--latency`` seconds before its first byte, like a model that is
thinking, so the work is waiting on the network. Start-up (the fork server importing the
SDKs, Ray starting and its workers importing) is measured apart, with a warm-up batch,
and left out of the throughput. Printed: tasks per minute, the scaling against one worker
(goal: at least 0.8 x workers), and Ray's extra time per task over the local engine.

    python bench/batch.py [--tasks 200] [--latency 0.25] [--calls 2] [--no-ray]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.batch import Engine, LocalEngine, RayEngine, Task, run_batch
from agent.config import Settings
from agent.testing import ProviderSimulator, RecordedRequest, Reply, Text, ToolCall

_TASK = re.compile(r"TASK (\S+?):")


def model(calls: int, latency: float) -> Any:
    """A model that writes ``calls - 1`` files, then answers; each reply after ``latency``."""

    def behaviour(request: RecordedRequest) -> Reply:
        messages = request.body.get("messages") or []
        step = sum(1 for m in messages if m.get("role") == "assistant")
        if step < calls - 1:
            call = ToolCall("write_file", {"path": f"out{step}.txt", "content": f"step {step}\n"})
            return Reply(Text(f"Step {step}."), call, delay_headers=latency)
        return Reply(Text("Done."), delay_headers=latency)

    return behaviour


def one_batch(engine: Engine, count: int, settings: Settings, root: Path, label: str) -> tuple[float, int]:
    """Seconds to run ``count`` tasks, and how many completed."""
    tasks = [Task(f"{label}-{i}", f"TASK {label}-{i}: write the files") for i in range(count)]
    out = root / f"{label}.jsonl"
    started = time.monotonic()
    completed = sum(r.ok for r in run_batch(tasks, engine, out=out, settings=settings, workdirs=root / label))
    return time.monotonic() - started, completed


def measure(engine: Engine, workers: int, args: argparse.Namespace, settings: Settings, root: Path) -> dict[str, Any]:
    label = f"{engine.name}{workers}"
    warm_started = time.monotonic()
    one_batch(engine, workers, settings, root, f"{label}-warm")  # start-up: fork server / Ray and its workers
    startup = time.monotonic() - warm_started
    seconds, completed = one_batch(engine, args.tasks, settings, root, label)
    return {
        "engine": engine.name,
        "workers": workers,
        "seconds": seconds,
        "completed": completed,
        "per_minute": completed / seconds * 60,
        "startup": startup,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.25, help="seconds before each reply's first byte")
    parser.add_argument("--calls", type=int, default=2, help="model calls per task (the last one answers)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--ray-workers", type=int, default=4)
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()

    rows: list[dict[str, Any]] = []
    with ProviderSimulator() as sim, tempfile.TemporaryDirectory() as tmp:
        sim.behaviour(model(args.calls, args.latency))
        settings = Settings(
            provider="anthropic", model="claude-sonnet-4-6", base_url=sim.base_url, api_key="bench", stale_timeout=60.0
        )
        root = Path(tmp)
        for workers in args.workers:
            rows.append(measure(LocalEngine(workers), workers, args, settings, root))
            print(_row(rows[-1], rows[0]), flush=True)
        if not args.no_ray:
            ray_engine = RayEngine(workers=args.ray_workers)
            try:
                rows.append(measure(ray_engine, args.ray_workers, args, settings, root))
                print(_row(rows[-1], rows[0]), flush=True)
            finally:
                ray_engine.close()
    _report(rows, args)


def _row(row: dict[str, Any], base: dict[str, Any]) -> str:
    scaling = row["per_minute"] / base["per_minute"] if base["workers"] == 1 else float("nan")
    return (
        f"{row['engine']:<6} {row['workers']:>3} workers: {row['completed']:>4} tasks in {row['seconds']:6.1f} s"
        f" = {row['per_minute']:7.1f} tasks/min; scaling {scaling:5.2f} x one worker"
        f" ({scaling / row['workers']:.2f} of linear); start-up {row['startup']:.1f} s"
    )


def _report(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    ideal = args.calls * args.latency
    print(f"\n{args.tasks} tasks of {args.calls} model calls, {args.latency:g} s latency each "
          f"(a task is at least {ideal:.2f} s of waiting)")  # fmt: skip
    base = rows[0]
    for row in rows:
        print(_row(row, base))
    ray = next((r for r in rows if r["engine"] == "ray"), None)
    local = next((r for r in rows if r["engine"] == "local" and ray and r["workers"] == ray["workers"]), None)
    if ray and local:
        per_task_ray = ray["seconds"] * ray["workers"] / ray["completed"]
        per_task_local = local["seconds"] * local["workers"] / local["completed"]
        print(
            f"Ray over local at {ray['workers']} workers: {1000 * (per_task_ray - per_task_local):+.0f} ms per task "
            f"({per_task_ray:.3f} s vs {per_task_local:.3f} s of worker time per task); "
            f"Ray start-up {ray['startup']:.1f} s vs local {local['startup']:.1f} s"
        )


if __name__ == "__main__":
    main()
