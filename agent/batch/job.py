"""What every task of a batch shares, and what a finished task hands back.

Both travel between processes (a local worker, a Ray worker), so they are plain,
picklable dataclasses: the agent settings of the batch (the provider flags, the config
file, the environment, resolved once by the driver), where workdirs go, and whether to
collect each task's history and stream trace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from hashlib import sha1
from pathlib import Path
from typing import Any

from agent.batch.tasks import Task, TaskId
from agent.config import Settings

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_NAME_CHARS = 80


@dataclass(frozen=True, slots=True)
class BatchJob:
    """The shared part of every task: ``settings`` are the defaults a task line may
    override (provider, model, system, max_iterations); each task gets its own workdir
    under ``workdirs``; ``trajectories`` collects each task's history and stream trace."""

    settings: Settings
    workdirs: Path
    trajectories: bool = False
    max_in_flight: int | None = None  # per provider key; None: no cap (pauses only)


@dataclass(frozen=True, slots=True)
class TaskOutcome:
    """A finished task: its result line, and (with trajectories) its history and trace."""

    record: dict[str, Any]
    history: dict[str, Any] | None = None
    trace: str | None = None

    @property
    def key(self) -> str:
        return str(self.record["id"])

    @property
    def status(self) -> str:
        return str(self.record["status"])


@dataclass(frozen=True, slots=True)
class TaskResult:
    """One result as ``run_batch`` yields it: the line written to the results file."""

    id: TaskId
    status: str
    final_text: str
    error: str | None
    record: dict[str, Any] = field(repr=False)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> TaskResult:
        return cls(record["id"], record["status"], record.get("final_text", ""), record.get("error"), record)

    @property
    def ok(self) -> bool:
        return self.status == "completed"


def task_settings(base: Settings, task: Task) -> Settings:
    """The settings of one task. Another provider than the batch's starts from its own
    endpoint, key and default model (as /model does); the same one keeps them."""
    settings = base
    if task.provider is not None and task.provider != base.provider:
        settings = replace(settings, provider=task.provider, model=None, base_url=None, api_key=None, api_mode=None)
    return settings.with_values(model=task.model, system_prompt=task.system, max_iterations=task.max_iterations)


def workdir_name(task_id: TaskId) -> str:
    """A directory name for a task id: the id itself when it is safe, else a cleaned-up
    form with a hash of the id, so two ids never share a directory."""
    text = str(task_id)
    clean = _UNSAFE.sub("_", text).lstrip(".")[:_NAME_CHARS]
    if clean == text and clean:
        return clean
    return f"{clean or 'task'}-{sha1(text.encode('utf-8')).hexdigest()[:10]}"
