"""Run one task: a fresh workdir, its own ``AIAgent``, one turn, one result line.

This is what a worker (a local process or a Ray task) does with a task. It never raises
for a task's sake: whatever goes wrong becomes a result with a status, an error that says
what happened and a cause. ``stop`` is set when the batch is stopping: the running turn
is interrupted and its result says so.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.batch import causes
from agent.batch.job import BatchJob, TaskOutcome, task_settings, workdir_name
from agent.batch.limited import LimitedProvider, QueueAwareClock
from agent.batch.limiter import LimiterHandle
from agent.batch.tasks import Task, check_relative_path
from agent.batch.trajectory import to_openai_chat
from agent.errors import ConfigError
from agent.events import TurnStarted
from agent.providers.base import Provider

if TYPE_CHECKING:
    from agent.agent import AIAgent
    from agent.result import AgentResult

STOP_POLL = 0.2  # how often the relay looks at the stop signal
# AgentResult.to_json keys that the result line carries under other names, or not at all.
_RENAMED = {"events", "session_id"}
_COUNTED = {
    "stalls": "stalled",
    "retries": "retrying",
    "continuations": "continuing",
    "fallbacks": "fallback_activated",
}


def run_task(task: Task, job: BatchJob, limiter: LimiterHandle | None, stop: threading.Event) -> TaskOutcome:
    """Run ``task`` to its end and describe it; never raises for the task's sake."""
    started, started_at = time.monotonic(), _now_iso()
    if limiter is not None:
        limiter.release_owner(task.key)  # a task retried after a lost worker starts clean
    try:
        workdir = prepare_workdir(job.workdirs, task)
    except (OSError, ValueError) as exc:
        error = f"could not prepare the task's workdir: {exc}. Nothing ran; fix the path or the files and rerun."
        return failure_outcome(task, causes.SETUP, error, started, started_at)
    if stop.is_set():
        error = "the batch was stopped before this task started; the next run does it"
        return failure_outcome(task, causes.INTERRUPTED, error, started, started_at, status="interrupted")
    try:
        return _run_agent(task, job, limiter, stop, workdir, started, started_at)
    except Exception as exc:  # a bug in the runner must not take the batch down
        error = f"the task runner failed: {type(exc).__name__}: {exc}. Please report this with the task line."
        return failure_outcome(task, causes.CRASHED, error, started, started_at)


def prepare_workdir(root: Path, task: Task) -> Path:
    """A fresh, empty workdir for the task (an earlier, unfinished run's is removed) with
    the task's files laid in."""
    root.mkdir(parents=True, exist_ok=True)
    workdir = root / workdir_name(task.id)
    if workdir.is_symlink() or workdir.is_file():
        workdir.unlink()
    elif workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir()
    for relative, content in task.files.items():
        target = workdir / check_relative_path(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    return workdir


def _run_agent(
    task: Task,
    job: BatchJob,
    limiter: LimiterHandle | None,
    stop: threading.Event,
    workdir: Path,
    started: float,
    started_at: str,
) -> TaskOutcome:
    from agent.agent import AIAgent
    from agent.prompts import default_system_prompt

    trace_dir = Path(tempfile.mkdtemp(prefix="stayline-trace-")) if job.trajectories else None
    trace = _trace_writer(trace_dir)
    clock = QueueAwareClock()
    try:
        agent = AIAgent(
            settings=task_settings(job.settings, task),
            workdir=workdir,
            session=None,
            stream_observer=trace,
            clock=clock,
            wrap_provider=_limited(limiter, task.key, clock),
        )
    except ConfigError as exc:
        if trace is not None:
            trace.close()
        _remove(trace_dir)
        return failure_outcome(task, causes.SETUP, f"{str(exc).rstrip('.')}. Nothing ran.", started, started_at)
    try:
        with agent:
            result, provider, model = _run_turn(agent, task.prompt, stop)
        system = agent.settings.system_prompt or default_system_prompt(agent.workdir)
    finally:
        if trace is not None:
            trace.close()
        trace_text = _read_and_remove(trace_dir)
    where = {"provider": provider, "model": model, "workdir": str(workdir)}
    record = result_record(task, result, started, started_at, system, where)
    history = None
    if job.trajectories:
        history = {"id": task.id, "system": system, "messages": [m.to_dict() for m in result.messages]}
    return TaskOutcome(record, history, trace_text)


def _limited(
    limiter: LimiterHandle | None, owner: str, clock: QueueAwareClock
) -> Callable[[Provider], Provider] | None:
    if limiter is None:
        return None
    return lambda provider: LimitedProvider(provider, limiter, owner, clock)


def _run_turn(agent: AIAgent, prompt: str, stop: threading.Event) -> tuple[AgentResult, str | None, str | None]:
    """One turn, interrupted when ``stop`` is set; the result and the turn's first provider."""
    done = threading.Event()

    def relay() -> None:
        while not done.wait(STOP_POLL):
            if stop.is_set():
                agent.interrupt()
                return

    relay_thread = threading.Thread(target=relay, name="stayline-batch-stop", daemon=True)
    relay_thread.start()
    provider = model = None
    try:
        for event in agent.stream(prompt):
            if isinstance(event, TurnStarted):
                provider, model = event.provider, event.model
                if stop.is_set():  # stream() clears the interrupt when the turn starts
                    agent.interrupt()
    finally:
        done.set()
        relay_thread.join()
    assert agent.last_result is not None  # every turn ends with TurnFinished
    return agent.last_result, provider, model


def result_record(
    task: Task, result: AgentResult, started: float, started_at: str, system: str, where: dict[str, Any]
) -> dict[str, Any]:
    """The result line of a turn. Whatever ``AgentResult.to_json`` reports (usage,
    ``cost_usd``, cache share, waste, context...) passes through; the event counts
    become named counts; ``where`` says which provider, model and workdir it ran on."""
    reported = result.to_json()
    counts = dict(result.counts)
    record: dict[str, Any] = {"id": task.id, "status": result.status, "final_text": result.final_text}
    record["error"] = result.error
    record["cause"] = causes.failure_cause(result.status, result.error)
    record.update({k: v for k, v in reported.items() if k not in _RENAMED and k not in record})
    record.update({name: counts.get(kind, 0) for name, kind in _COUNTED.items()})
    record["events"] = counts
    record["wall_time"] = round(time.monotonic() - started, 3)
    record["started_at"], record["finished_at"] = started_at, _now_iso()
    record.update(where)
    if task.metadata is not None:
        record["metadata"] = task.metadata
    record["trajectory"] = to_openai_chat(result.messages, system)
    return record


def failure_outcome(
    task: Task, cause: str, error: str, started: float, started_at: str, *, status: str = "failed"
) -> TaskOutcome:
    """The result of a task that did not get (or finish) a turn: a lost worker, a setup error."""
    record: dict[str, Any] = {
        "id": task.id,
        "status": status,
        "final_text": "",
        "error": error,
        "cause": cause,
        "api_calls": 0,
        "usage": {},
        **dict.fromkeys(_COUNTED, 0),
        "events": {},
        "wall_time": round(time.monotonic() - started, 3),
        "started_at": started_at,
        "finished_at": _now_iso(),
    }
    if task.metadata is not None:
        record["metadata"] = task.metadata
    record["trajectory"] = []
    return TaskOutcome(record)


def _trace_writer(directory: Path | None) -> Any:
    if directory is None:
        return None
    from agent.trace import TraceWriter

    return TraceWriter(directory / "trace.jsonl")


def _read_and_remove(directory: Path | None) -> str | None:
    if directory is None:
        return None
    try:
        return (directory / "trace.jsonl").read_text(encoding="utf-8")
    except OSError:
        return None
    finally:
        _remove(directory)


def _remove(directory: Path | None) -> None:
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
