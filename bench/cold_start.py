"""Cold start: wall time of ``python run_agent.py --help`` against ``python -c pass``, same run.

Both commands run as fresh subprocesses of the same interpreter (``sys.executable``),
alternating so that machine noise hits both alike; the medians and their difference are
printed. Target: the agent's ``--help`` costs less than 0.3 s over the bare interpreter.
The exit status is 1 when the target is missed (or ``--help`` fails).

    python bench/cold_start.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 0.3  # seconds above the bare interpreter
BARE = [sys.executable, "-c", "pass"]
AGENT = [sys.executable, str(ROOT / "run_agent.py"), "--help"]


def wall_time(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip()
        raise SystemExit(f"{' '.join(command)} exited with {done.returncode}: {detail}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="runs of each command (at least 10; default 15)")
    args = parser.parse_args()
    runs = max(args.runs, 10)
    wall_time(BARE)  # warm the file cache (and compile the bytecode) before measuring
    wall_time(AGENT)
    bare: list[float] = []
    agent: list[float] = []
    for index in range(runs):
        pair = ((bare, BARE), (agent, AGENT))
        for times, command in pair if index % 2 == 0 else reversed(pair):
            times.append(wall_time(command))
    bare_median = statistics.median(bare)
    agent_median = statistics.median(agent)
    difference = agent_median - bare_median
    verdict = "ok" if difference < TARGET else "TOO SLOW"
    print(f"{runs} runs each, alternating, {sys.executable}")
    print(f"python -c pass              median {bare_median * 1000:7.1f} ms")
    print(f"python run_agent.py --help  median {agent_median * 1000:7.1f} ms")
    target = f"target < {TARGET * 1000:.0f} ms: {verdict}"
    print(f"difference                         {difference * 1000:7.1f} ms  ({target})")
    return 0 if difference < TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
