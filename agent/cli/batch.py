"""``stayline batch TASKS.jsonl --out RESULTS.jsonl``: run a task file, resumably.

Import-light like the rest of the CLI: the batch package, rich, the SDKs and Ray load
only once the arguments are parsed, so ``stayline batch --help`` stays fast.

Ctrl+C once: no new task starts, the running ones are interrupted (their results say
so) and the output stays resumable; twice: the workers are killed at once (their tasks
run again next time).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from agent.cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, whole_number
from agent.cli.flags import API_MODES, PROVIDERS, seconds, seconds_or_zero

if TYPE_CHECKING:
    from agent.batch.engine import Engine
    from agent.config import Settings

PROG = "stayline batch"


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``stayline batch``'s flags; ``--help`` lists them in the order added here."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Run every task of a JSONL task file, each with its own agent in its own fresh workdir, "
        "and append one JSON result line per task to --out as it ends. Run it again to resume: tasks "
        "already in the output are skipped (interrupted ones run again).",
        epilog='A task line: {"id": "t1", "prompt": "...", "provider": ..., "model": ..., "system": ..., '
        '"max_iterations": N, "files": {"path": "content"}, "metadata": ...}. '
        "Exit codes: 0 every task completed, 1 some failed or a line was bad, 2 usage or configuration error, "
        "130 interrupted.",
    )
    _add_batch_flags(parser)
    _add_request_flags(parser)
    _add_limit_flags(parser)
    parser.add_argument("--yolo", action="store_true", help="run dangerous commands (otherwise they are refused)")
    parser.add_argument(
        "--sandbox", action="store_true", help="run commands under bubblewrap: only the workdir writable, no network"
    )
    parser.add_argument("--config", metavar="PATH", help="config file (default: $STAYLINE_HOME/config.toml)")
    return parser


def _add_batch_flags(parser: argparse.ArgumentParser) -> None:
    """The batch itself: the task and results files, who runs the tasks, and what is kept."""
    parser.add_argument("tasks", metavar="TASKS.jsonl", help="the task file, one JSON object a line")
    parser.add_argument("--out", required=True, metavar="RESULTS.jsonl", help="the results file (appended to)")
    parser.add_argument(
        "--workers", type=whole_number(1), metavar="N", help="tasks at once (default: 4 per core, 2-16)"
    )
    parser.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="run the tasks on Ray: the cluster at ADDRESS, or a local Ray instance (needs 'stayline[ray]')",
    )
    parser.add_argument(
        "--max-in-flight", type=whole_number(1), metavar="N", help="model requests in flight per provider key at most"
    )
    parser.add_argument("--workdirs", metavar="DIR", help="where each task's workdir goes (default: RESULTS.workdirs)")
    parser.add_argument("--trajectories", metavar="DIR", help="write each task's full history and stream trace here")
    parser.add_argument(
        "--retry-failed", action="store_true", help="run failed tasks again too (not only missing ones)"
    )


def _add_request_flags(parser: argparse.ArgumentParser) -> None:
    """Where every task's requests go, unless its line says otherwise."""
    parser.add_argument("--provider", choices=PROVIDERS, help="default provider of every task")
    parser.add_argument("--model", help="default model of every task")
    parser.add_argument("--base-url", metavar="URL", help="API endpoint (required for --provider custom)")
    parser.add_argument("--api-mode", choices=API_MODES, help="wire protocol of a custom endpoint")
    parser.add_argument("--api-key", metavar="KEY", help="API key (default: the provider's key variable)")


def _add_limit_flags(parser: argparse.ArgumentParser) -> None:
    """Limits and recovery of every task: output and model calls, stall limits, retries, fallbacks."""
    parser.add_argument("--max-tokens", type=whole_number(1), metavar="N", help="output token limit per model call")
    parser.add_argument("--max-iterations", type=whole_number(1), metavar="N", help="model calls per task at most")
    parser.add_argument("--max-retries", type=whole_number(0), metavar="N", help="retries after a failed model call")
    parser.add_argument("--stale-timeout", type=seconds, metavar="SECONDS", help="silence that counts as a stall")
    parser.add_argument(
        "--first-token-timeout", type=seconds, metavar="SECONDS", help="the limit before the first token alone"
    )
    parser.add_argument(
        "--retry-budget",
        type=seconds_or_zero,
        metavar="SECONDS",
        help="keep retrying a busy or rate-limited provider this long per model call (0: off)",
    )
    parser.add_argument(
        "--fallback", dest="fallbacks", action="append", metavar="PROVIDER:MODEL", help="fallback model (repeatable)"
    )


def batch_command(argv: list[str], home: Path) -> int:
    """``stayline batch ...``; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    _with_single_shot_defaults(args)
    from agent.errors import ConfigError

    try:
        engine = _engine(args)
        settings = _settings(args)
        plan = _plan(args)
        engine.prepare()  # the workers' imports overlap with the provider check
        _check_provider(settings)
    except ConfigError as exc:
        return _usage_error(str(exc))
    except KeyboardInterrupt:  # before any task started
        print(f"{PROG}: interrupted before any task started", file=sys.stderr)
        return EXIT_INTERRUPTED
    return _run(args, engine, settings, plan)


def _with_single_shot_defaults(args: argparse.Namespace) -> None:
    """Give every single-shot flag that batch does not have its "not given" default, so the
    shared settings code (``load_cli_settings``) reads the same names for both."""
    from agent.cli.flags import build_parser as single_shot_parser

    for name, value in vars(single_shot_parser().parse_args([])).items():
        if not hasattr(args, name):
            setattr(args, name, value)
    args.workdir = None  # each task has its own


def _engine(args: argparse.Namespace) -> Engine:
    if args.ray is None:
        from agent.batch.local import LocalEngine

        return LocalEngine(args.workers)
    from agent.batch.ray_engine import RayEngine, require_ray

    require_ray()  # fail before reading anything when Ray is missing
    return RayEngine(args.ray or None, args.workers)


def _settings(args: argparse.Namespace) -> Settings:
    """The flags > environment > config file settings, with the provider pinned (every
    worker must pick the same one)."""
    from agent.cli.main import load_cli_settings
    from agent.config import effective_provider

    settings = load_cli_settings(args, interactive=False)
    provider = effective_provider(settings.provider, settings.base_url)
    return settings.with_values(provider=provider)


def _check_provider(settings: Settings) -> None:
    """Build the default provider once, so a missing key or model fails before any task runs."""
    from agent.assembly import provider_from

    provider_from(settings).close()


def _plan(args: argparse.Namespace) -> Any:
    from agent.batch.run import plan_batch
    from agent.errors import ConfigError

    try:
        return plan_batch(args.tasks, args.out, retry_failed=args.retry_failed)
    except OSError as exc:
        raise ConfigError(f"cannot read the task file {args.tasks}: {exc.strerror or exc}") from None


def _run(args: argparse.Namespace, engine: Engine, settings: Settings, plan: Any) -> int:
    from agent.batch.progress import PlainProgress, RichProgress
    from agent.batch.run import run_batch
    from agent.batch.summary import format_summary, summarize
    from agent.errors import ConfigError

    progress = RichProgress(sys.stderr) if _is_tty(sys.stderr) else PlainProgress(sys.stderr)
    records: list[dict[str, Any]] = []
    started = time.monotonic()
    results = run_batch(
        plan,
        engine,
        out=args.out,
        settings=settings,
        workdirs=args.workdirs,
        trajectories=args.trajectories,
        max_in_flight=args.max_in_flight,
        observer=progress,
    )
    try:
        with _interrupts(engine, progress):
            for result in results:
                records.append(result.record)
    except ConfigError as exc:  # e.g. Ray missing, found only when the engine starts
        progress.close()
        return _usage_error(str(exc))
    except OSError as exc:
        progress.close()
        print(f"{PROG}: cannot write the results: {exc}. The results written so far are kept.", file=sys.stderr)
        return EXIT_FAILED
    finally:
        results.close()
        close = getattr(engine, "close", None)
        if close is not None:
            close()
    progress.close()
    summary = summarize(records, plan, time.monotonic() - started)
    print(format_summary(summary, args.out))
    if engine.stopping:
        return EXIT_INTERRUPTED
    return EXIT_OK if summary.all_completed else EXIT_FAILED


@contextmanager
def _interrupts(engine: Engine, progress: Any) -> Iterator[None]:
    """Ctrl+C once stops the batch cleanly; twice kills the running tasks."""
    presses = [0]

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        presses[0] += 1
        if presses[0] == 1:
            engine.stop()
            progress.note("■ stopping: no new tasks; interrupting the running ones… (Ctrl+C again to kill them)")
        else:
            engine.kill()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _usage_error(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return EXIT_USAGE
