"""The Ray engine: the same tasks as Ray tasks, on a cluster or on a local Ray instance.

Each task is a Ray task running the same ``run_task`` as a local worker; the rate limiter
is a Ray actor (``LimiterActor``) that every task of the batch asks, and that also carries
the batch's stop signal. Results stream back to the driver as tasks finish. Ray's own
retries are used only for a lost worker or node (``max_retries``); model errors stay inside
stayline's policy (``retry_exceptions=False``), and the task itself never raises for them.

Ray is an optional extra (``pip install 'stayline[ray]'``), imported only when the engine
runs. Without an address a local instance is started that listens on 127.0.0.1 only and
reports no usage statistics.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from agent.batch import causes
from agent.batch.engine import TaskStarted, default_workers
from agent.batch.job import BatchJob, TaskOutcome
from agent.batch.limiter import RateLimiter
from agent.batch.runner import failure_outcome, run_task
from agent.batch.tasks import Task
from agent.errors import ConfigError

INSTALL_HINT = "pip install 'stayline[ray]'"
WAIT_SLICE = 0.5
STOP_POLL = 0.5  # how often a task asks the actor whether the batch is stopping
DEFAULT_MAX_RETRIES = 3  # lost workers only
# For a local instance: bind to the loopback address only, and send no usage statistics.
_LOCAL_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


class RayNotInstalled(ConfigError):
    """``--ray`` (or ``RayEngine``) without Ray installed."""


def _not_installed() -> RayNotInstalled:
    return RayNotInstalled(
        f"running a batch on Ray needs Ray, which is not installed here: {INSTALL_HINT} "
        "(or run without --ray, on local worker processes)"
    )


def require_ray() -> None:
    """``RayNotInstalled`` unless Ray can be imported (looked up, not imported: that is slow)."""
    try:
        found = importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):  # ValueError: blocked with sys.modules["ray"] = None
        found = False
    if not found:
        raise _not_installed()


def import_ray() -> ModuleType:
    """The ``ray`` module, or ``RayNotInstalled`` saying what to install."""
    try:
        import ray
    except ImportError:
        raise _not_installed() from None
    return ray


class LimiterActor:
    """The batch's ``RateLimiter`` as a Ray actor, plus the batch's stop signal."""

    def __init__(self, max_in_flight: int | None) -> None:
        self._limiter = RateLimiter(max_in_flight)
        self._stopping = False

    def acquire(self, key: str, owner: str, timeout: float) -> int | None:
        """See ``RateLimiter.acquire``."""
        return self._limiter.acquire(key, owner, timeout)

    def release(self, lease: int) -> None:
        """See ``RateLimiter.release``."""
        self._limiter.release(lease)

    def pause(self, key: str, seconds: float) -> None:
        """See ``RateLimiter.pause``."""
        self._limiter.pause(key, seconds)

    def release_owner(self, owner: str) -> int:
        """See ``RateLimiter.release_owner``."""
        return self._limiter.release_owner(owner)

    def stop(self) -> None:
        """The batch is stopping: running tasks interrupt their turns."""
        self._stopping = True

    def stopping(self) -> bool:
        """Whether the batch is stopping."""
        return self._stopping


class RayLimiterHandle:
    """A task's ``LimiterHandle`` for the ``LimiterActor``."""

    def __init__(self, ray: ModuleType, actor: Any) -> None:
        self._ray = ray
        self._actor = actor

    def acquire(self, key: str, owner: str, timeout: float) -> int | None:
        """See ``LimiterHandle.acquire``."""
        lease: int | None = self._ray.get(self._actor.acquire.remote(key, owner, timeout))
        return lease

    def release(self, lease: int) -> None:
        """See ``LimiterHandle.release`` (fire and forget: the actor orders the calls)."""
        self._actor.release.remote(lease)

    def pause(self, key: str, seconds: float) -> None:
        """See ``LimiterHandle.pause``."""
        self._ray.get(self._actor.pause.remote(key, seconds))

    def release_owner(self, owner: str) -> int:
        """See ``LimiterHandle.release_owner``."""
        count: int = self._ray.get(self._actor.release_owner.remote(owner))
        return count


def ray_task(task: Task, job: BatchJob, actor: Any) -> TaskOutcome:
    """The body of one Ray task: ``run_task`` with the actor as limiter and stop signal."""
    import ray

    stop, done = threading.Event(), threading.Event()

    def watch() -> None:
        while not done.wait(STOP_POLL):
            if ray.get(actor.stopping.remote()):
                stop.set()
                return

    watcher = threading.Thread(target=watch, name="stayline-batch-stop-watch", daemon=True)
    watcher.start()
    try:
        return run_task(task, job, RayLimiterHandle(ray, actor), stop)
    finally:
        done.set()
        watcher.join()


class RayEngine:
    """Runs tasks as Ray tasks: on the cluster at ``address`` (``ray.init(address=...)``),
    or on a local instance with ``workers`` CPUs. At most ``workers`` tasks run at once
    (default: the cluster's CPUs). ``task_options`` go to each task's ``.options()``
    (e.g. ``{"num_cpus": 0.5}``); a task is retried by Ray only when its worker is lost."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        task_options: Mapping[str, Any] | None = None,
        init_options: Mapping[str, Any] | None = None,
    ) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self.address = address or None
        self.workers = workers
        self.max_retries = max_retries
        self.task_options = dict(task_options or {})
        self.init_options = dict(init_options or {})
        self._stop = False
        self._kill = False
        self._started_instance = False

    @property
    def stopping(self) -> bool:
        return self._stop or self._kill

    def stop(self) -> None:
        """Submit nothing new; running tasks are told to interrupt (safe in a signal handler)."""
        self._stop = True

    def kill(self) -> None:
        """Cancel every running task at once (safe in a signal handler)."""
        self._kill = True

    def prepare(self) -> None:
        """Nothing to do ahead of ``run`` (joining the cluster happens there)."""

    def connect(self) -> ModuleType:
        """Join the cluster, or start the local instance, unless Ray is already initialised."""
        if self.address is None or _is_loopback(self.address):
            for name, value in _LOCAL_ENV.items():
                os.environ.setdefault(name, value)  # read by Ray when it is imported
        ray = import_ray()
        if ray.is_initialized():
            return ray
        options: dict[str, Any] = {"include_dashboard": False, "logging_level": "ERROR", "log_to_driver": False}
        if self.address is None:
            options["num_cpus"] = self.workers or default_workers()
            self._started_instance = True
        else:
            options["address"] = self.address
        options.update(self.init_options)
        try:
            ray.init(**options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            self._started_instance = False
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"
            raise ConfigError(f"could not start or reach {where}: {exc}") from None
        return ray

    def close(self) -> None:
        """Shut down the local instance this engine started (a cluster is left alone)."""
        if self._started_instance:
            import ray

            ray.shutdown()
            self._started_instance = False

    def run(self, tasks: Sequence[Task], job: BatchJob, started: TaskStarted | None = None) -> Iterator[TaskOutcome]:
        """Run ``tasks`` on Ray; outcomes come as the tasks end."""
        ray = self.connect()
        workers = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        actor_class = ray.remote(num_cpus=0, max_concurrency=max(16, 4 * workers))(LimiterActor)
        actor = actor_class.remote(job.max_in_flight)
        options = {"max_retries": self.max_retries, "retry_exceptions": False, "num_cpus": 1, **self.task_options}
        remote = ray.remote(ray_task).options(**options)
        job_ref = ray.put(job)
        pending = deque(tasks)
        running: dict[Any, tuple[Task, float, str]] = {}
        relayed = False
        try:
            while (pending and not self.stopping) or running:
                if self._kill:
                    return
                while pending and not self.stopping and len(running) < workers:
                    task = pending.popleft()
                    running[remote.remote(task, job_ref, actor)] = (task, time.monotonic(), _now_iso())
                    if started is not None:
                        started(task)
                if self._stop and not relayed:
                    relayed = True
                    actor.stop.remote()
                ready, _ = ray.wait(list(running), num_returns=1, timeout=WAIT_SLICE)
                for ref in ready:
                    yield self._outcome(ray, ref, *running.pop(ref))
        finally:
            for ref in running:
                ray.cancel(ref, force=True)
            ray.kill(actor)

    @staticmethod
    def _outcome(ray: ModuleType, ref: Any, task: Task, started: float, started_at: str) -> TaskOutcome:
        try:
            outcome: TaskOutcome = ray.get(ref)
            return outcome
        except ray.exceptions.RayTaskError as exc:  # the runner itself raised: a bug
            error = f"the task runner failed on Ray: {exc}. Please report this with the task line."
            return failure_outcome(task, causes.CRASHED, error, started, started_at)
        except ray.exceptions.RayError as exc:  # the worker or its node was lost, retries spent
            error = (
                f"the Ray worker running this task was lost ({type(exc).__name__}) and Ray's retries are spent; "
                "its result is lost. Rerun with --retry-failed to run it again."
            )
            return failure_outcome(task, causes.WORKER_LOST, error, started, started_at)


def _is_loopback(address: str) -> bool:
    """An address of an instance on this machine's loopback (a driver joining it must
    use the loopback address too)."""
    host = address.removeprefix("ray://").rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
