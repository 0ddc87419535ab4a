"""The end-of-batch summary: outcomes, failures by cause, tokens and cost, task times."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.batch.run import BatchPlan

_COST_KEYS = ("total", "total_usd", "usd")


@dataclass(frozen=True, slots=True)
class BatchSummary:
    """What one run of a batch did (the tasks it ran; skipped ones are only counted)."""

    statuses: Mapping[str, int]
    causes: Mapping[str, int]
    usage: Mapping[str, int]
    cost: float | None  # None: no task reported a cost
    cost_unknown: int  # tasks that ran model calls but reported no cost
    times: list[float] = field(default_factory=list)
    skipped: int = 0
    not_started: int = 0
    bad_lines: int = 0
    elapsed: float = 0.0

    @property
    def ran(self) -> int:
        return sum(self.statuses.values())

    @property
    def all_completed(self) -> bool:
        return self.ran == self.statuses.get("completed", 0) and not self.bad_lines and not self.not_started


def summarize(records: Iterable[Mapping[str, Any]], plan: BatchPlan, elapsed: float) -> BatchSummary:
    """The summary of a run from the result lines it wrote."""
    statuses: Counter[str] = Counter()
    failure_causes: Counter[str] = Counter()
    usage: Counter[str] = Counter()
    times: list[float] = []
    cost_total: float | None = None
    cost_unknown = 0
    for record in records:
        status = str(record.get("status"))
        statuses[status] += 1
        if status != "completed":
            failure_causes[str(record.get("cause") or "other")] += 1
        for key, value in (record.get("usage") or {}).items():
            if isinstance(value, int) and not isinstance(value, bool):
                usage[key] += value
        cost = cost_of(record)
        if cost is not None:
            cost_total = (cost_total or 0.0) + cost
        elif record.get("api_calls"):
            cost_unknown += 1
        if isinstance(record.get("wall_time"), int | float):
            times.append(float(record["wall_time"]))
    ran = sum(statuses.values())
    return BatchSummary(
        dict(statuses),
        dict(failure_causes),
        dict(usage),
        cost_total,
        cost_unknown,
        sorted(times),
        skipped=len(plan.skipped),
        not_started=max(0, len(plan.to_run) - ran),
        bad_lines=len(plan.bad_lines),
        elapsed=elapsed,
    )


def cost_of(record: Mapping[str, Any]) -> float | None:
    """A task's cost in dollars (``cost_usd``; a ``cost`` number or object too); None when unknown."""
    value = record.get("cost_usd", record.get("cost"))
    if isinstance(value, Mapping):
        value = next((value[k] for k in _COST_KEYS if k in value), None)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def percentile(sorted_values: list[float], share: float) -> float | None:
    """The nearest-rank percentile of already sorted values (None for none)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(share * len(sorted_values)))
    return sorted_values[rank - 1]


def format_summary(summary: BatchSummary, out: str | None = None) -> str:
    """The summary as a few plain lines."""
    counts = " · ".join(
        f"{status} {summary.statuses.get(status, 0)}" for status in ("completed", "failed", "interrupted")
    )
    if summary.ran == 0 and not summary.not_started:
        lines = [f"batch: nothing to run ({summary.skipped} tasks already done)"]
    else:
        lines = [f"batch: {summary.ran} tasks run in {_duration(summary.elapsed)}: {counts}"]
    extra = []
    if summary.skipped:
        extra.append(f"{summary.skipped} already done (skipped)")
    if summary.not_started:
        extra.append(f"{summary.not_started} not started (stopped)")
    if summary.bad_lines:
        extra.append(f"{summary.bad_lines} bad task lines (not run)")
    if extra:
        lines.append("  " + "; ".join(extra))
    if summary.causes:
        grouped = ", ".join(f"{cause} {n}" for cause, n in sorted(summary.causes.items(), key=lambda i: (-i[1], i[0])))
        lines.append(f"  not completed, by cause: {grouped}")
    lines.append("  " + _tokens_line(summary))
    p50, p95 = percentile(summary.times, 0.5), percentile(summary.times, 0.95)
    if p50 is not None and p95 is not None:
        lines.append(f"  task time: p50 {_duration(p50)} · p95 {_duration(p95)}")
    if out is not None and (summary.not_started or summary.statuses.get("interrupted")):
        lines.append(f"  {out} is resumable: run the same command again to do the rest")
    return "\n".join(lines)


def _tokens_line(summary: BatchSummary) -> str:
    usage = summary.usage
    parts = [f"{key.removesuffix('_tokens').replace('_', ' ')} {value:,}" for key, value in usage.items()]
    tokens = "tokens: " + (" · ".join(parts) if parts else "none reported")
    if summary.cost is None:
        cost = "cost: not reported"
    else:
        cost = f"cost: ${summary.cost:,.4f}"
        if summary.cost_unknown:
            cost += f" (+ {summary.cost_unknown} tasks of unknown cost)"
    return f"{tokens}; {cost}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
