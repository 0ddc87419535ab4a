"""``stayline`` / ``run_agent.py``: parse flags, build the agent, pick a front end.

Startup stays fast: this module imports only the standard library at import time.
The agent (and through it the provider SDKs), rich and prompt_toolkit are imported
inside ``main`` once the arguments are known, so ``--help``, ``--version`` and usage
errors never pay for them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PROG = "stayline"
# The public contract of --provider and --api-mode. Kept literal (not read from
# agent.providers.profiles) so building the parser imports nothing; a unit test
# checks these match PROFILES and WIRES.
PROVIDERS = ("anthropic", "openai", "openrouter", "custom")
API_MODES = ("anthropic_messages", "chat_completions")

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A flag combination or input that cannot work; reported as ``stayline: <message>``."""


class _VersionAction(argparse.Action):
    """--version, resolving the version only when asked (importlib.metadata is slow)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest=dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            text = f"{PROG} {version('stayline')}"
        except PackageNotFoundError:
            text = f"{PROG} (source checkout, not installed)"
        print(text)  # stdout, like argparse's own version action
        parser.exit()


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"{text} must be a positive number of seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="An agent conversation loop that does not lose your work when an LLM provider stalls. "
        "Without -q it opens a chat; with piped input it answers that input once.",
        epilog="Exit codes: 0 completed, 1 the turn failed, 2 usage or configuration error, 130 interrupted.",
    )
    parser.add_argument(
        "-q", "--query", metavar="TEXT", help="answer TEXT once and exit ('-' reads the prompt from stdin)"
    )
    parser.add_argument(
        "--json", action="store_true", help="single shot: print one JSON object with the result on stdout"
    )
    parser.add_argument("--provider", choices=PROVIDERS, help="provider profile (default: the first with a key set)")
    parser.add_argument("--model", help="model name (default: the provider's default model)")
    parser.add_argument("--base-url", metavar="URL", help="API endpoint (required for --provider custom)")
    parser.add_argument("--api-mode", choices=API_MODES, help="wire protocol of a custom endpoint")
    parser.add_argument("--api-key", metavar="KEY", help="API key (default: the provider's key variable)")
    parser.add_argument("--workdir", metavar="DIR", help="directory the tools work in (default: current)")
    parser.add_argument("--max-tokens", type=_count, metavar="N", help="output token limit per model call")
    parser.add_argument("--max-iterations", type=_count, metavar="N", help="model calls per turn at most")
    parser.add_argument("--max-retries", type=_count, metavar="N", help="retries after a failed model call")
    parser.add_argument(
        "--stale-timeout",
        type=_seconds,
        metavar="SECONDS",
        help="drop a stream that sends nothing for this long and retry",
    )
    parser.add_argument("--version", action=_VersionAction, help="print the version and exit")
    return parser


def agent_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The ``AIAgent`` keyword arguments for the parsed flags (None = not given; the
    agent applies the environment and defaults)."""
    return {
        "provider": args.provider,
        "model": args.model,
        "base_url": args.base_url,
        "api_key": args.api_key,
        "workdir": args.workdir,
        "stale_timeout": args.stale_timeout,
        "max_retries": args.max_retries,
        "max_iterations": args.max_iterations,
        "api_mode": args.api_mode,
        "max_tokens": args.max_tokens,
    }


def stayline_home() -> Path:
    return Path(os.environ.get("STAYLINE_HOME") or Path.home() / ".stayline").expanduser()


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


def _interactive(args: argparse.Namespace) -> bool:
    return args.query is None and _is_tty(sys.stdin)


def _read_prompt(args: argparse.Namespace) -> str:
    """The single-shot prompt: -q TEXT, -q - (stdin), or piped stdin without -q."""
    if args.query is not None and args.query != "-":
        prompt = args.query
    else:
        if _is_tty(sys.stdin) and args.query == "-":
            print(f"{PROG}: reading the prompt from stdin; end it with Ctrl+D", file=sys.stderr)
        prompt = sys.stdin.read()
    if not prompt.strip():
        raise UsageError("empty prompt: pass -q TEXT, or pipe the prompt on stdin")
    return prompt


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``stayline`` and ``run_agent.py``; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, argparse usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.json and _interactive(args):
        return _usage_error("--json needs a prompt: pass -q TEXT or pipe it on stdin")
    try:
        return _run(args)
    except UsageError as exc:
        return _usage_error(str(exc))
    except KeyboardInterrupt:  # Ctrl+C outside a turn (while starting, reading stdin)
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _run(args: argparse.Namespace) -> int:
    from agent.errors import ConfigError

    try:
        from agent.agent import AIAgent

        agent = AIAgent(**agent_kwargs(args))
    except ConfigError as exc:  # includes MissingKeyError
        return _usage_error(str(exc))
    with agent:
        if _interactive(args):
            from agent.cli.repl import run_repl

            return run_repl(agent, history_path=stayline_home() / "history")
        # Built before reading stdin so a missing key fails before the user types a prompt.
        prompt = _read_prompt(args)
        from agent.cli.oneshot import run_single

        return run_single(agent, prompt, json_mode=args.json, out=sys.stdout, err=sys.stderr)


def _usage_error(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return EXIT_USAGE
