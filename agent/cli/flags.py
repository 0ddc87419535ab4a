"""The flags of ``stayline`` (the chat and the single shot), in the order ``--help`` lists them.

Standard library only, like ``agent.cli.main``: building the parser must not import the
agent, so ``--help``, ``--version`` and usage errors stay fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from agent.cli import whole_number

PROG = "stayline"
# The public contract of --provider and --api-mode. Kept literal (not read from
# agent.providers.profiles) so building the parser imports nothing; a unit test
# checks these match PROFILES and WIRES.
PROVIDERS = ("anthropic", "openai", "openrouter", "custom")
API_MODES = ("anthropic_messages", "chat_completions")


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


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"{text} must be a positive number of seconds")
    return value


def seconds_or_zero(text: str) -> float:
    return 0.0 if text.strip() in ("0", "0.0") else seconds(text)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``stayline``'s flags; ``--help`` lists them in the order added here."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="An agent conversation loop that does not lose your work when an LLM provider stalls. "
        "Without -q it opens a chat; with piped input it answers that input once. "
        f"`{PROG} sessions` lists the saved conversations; `{PROG} batch TASKS.jsonl --out RESULTS.jsonl` "
        "runs a task file (see `stayline batch --help`).",
        epilog="Settings come from the flags, then the environment, then $STAYLINE_HOME/config.toml. "
        "Exit codes: 0 completed, 1 the turn failed, 2 usage or configuration error, 130 interrupted.",
    )
    _add_answer_flags(parser)
    _add_request_flags(parser)
    _add_limit_flags(parser)
    _add_command_flags(parser)
    _add_session_flags(parser)
    _add_file_flags(parser)
    parser.add_argument("--version", action=_VersionAction, help="print the version and exit")
    return parser


def _add_answer_flags(parser: argparse.ArgumentParser) -> None:
    """The single shot: the prompt, and how the answer goes to stdout."""
    parser.add_argument(
        "-q", "--query", metavar="TEXT", help="answer TEXT once and exit ('-' reads the prompt from stdin)"
    )
    parser.add_argument(
        "--json", action="store_true", help="single shot: print one JSON object with the result on stdout"
    )
    parser.add_argument(
        "--stream",
        dest="stream_answer",
        action="store_true",
        help="single shot: write the model's text to stdout as it arrives (still nothing else on stdout)",
    )


def _add_request_flags(parser: argparse.ArgumentParser) -> None:
    """Where requests go (provider, model, endpoint, key) and how, and where the tools work."""
    parser.add_argument(
        "--no-stream",
        action="store_true",
        help="send requests without streaming (for servers that cannot stream); also stream = false",
    )
    parser.add_argument("--provider", choices=PROVIDERS, help="provider profile (default: the first with a key set)")
    parser.add_argument("--model", help="model name (default: the provider's default model)")
    parser.add_argument("--base-url", metavar="URL", help="API endpoint (required for --provider custom)")
    parser.add_argument("--api-mode", choices=API_MODES, help="wire protocol of a custom endpoint")
    parser.add_argument("--api-key", metavar="KEY", help="API key (default: the provider's key variable)")
    parser.add_argument("--workdir", metavar="DIR", help="directory the tools work in (default: current)")


def _add_limit_flags(parser: argparse.ArgumentParser) -> None:
    """Limits and recovery: how much a turn may do, when a stream counts as stalled, how long
    to keep retrying, and which models finish the turn when the provider fails."""
    parser.add_argument("--max-tokens", type=whole_number(0), metavar="N", help="output token limit per model call")
    parser.add_argument("--max-iterations", type=whole_number(0), metavar="N", help="model calls per turn at most")
    parser.add_argument("--max-retries", type=whole_number(0), metavar="N", help="retries after a failed model call")
    parser.add_argument(
        "--max-continuations",
        type=whole_number(0),
        metavar="N",
        help="continuations of a reply cut by its length limit (default 3; 0: none)",
    )
    parser.add_argument(
        "--stale-timeout",
        type=seconds,
        metavar="SECONDS",
        help="drop a stream that sends nothing for this long and retry (both before the first token and "
        "between tokens)",
    )
    parser.add_argument(
        "--first-token-timeout",
        type=seconds,
        metavar="SECONDS",
        help="the limit before the first token alone (default: longer for reasoning models and local servers)",
    )
    parser.add_argument(
        "--retry-budget",
        type=seconds_or_zero,
        metavar="SECONDS",
        help="keep retrying a busy or rate-limited provider this long per model call (default 300; 0: off)",
    )
    parser.add_argument(
        "--fallback",
        dest="fallbacks",
        action="append",
        metavar="PROVIDER:MODEL",
        help="finish the turn on this model when the provider fails (repeatable, tried in order; "
        "custom:MODEL@BASE_URL for a custom endpoint)",
    )


def _add_command_flags(parser: argparse.ArgumentParser) -> None:
    """What the tools' commands may do."""
    parser.add_argument(
        "--yolo",
        action="store_true",
        help="run dangerous commands without asking (otherwise the chat asks and -q refuses them)",
    )
    parser.add_argument(
        "--sandbox", action="store_true", help="run commands under bubblewrap: only the workdir writable, no network"
    )


def _add_session_flags(parser: argparse.ArgumentParser) -> None:
    """Which saved conversation to continue, or none saved at all."""
    sessions = parser.add_mutually_exclusive_group()
    sessions.add_argument(
        "--continue", dest="continue_session", action="store_true", help="continue the latest session"
    )
    sessions.add_argument("--resume", metavar="ID", help="continue the session ID (`stayline sessions` lists them)")
    sessions.add_argument("--no-session", action="store_true", help="do not save this conversation")


def _add_file_flags(parser: argparse.ArgumentParser) -> None:
    """The settings file read, and the stream trace written."""
    parser.add_argument("--config", metavar="PATH", help="config file (default: $STAYLINE_HOME/config.toml)")
    parser.add_argument("--trace-stream", metavar="FILE", help="write a trace of every stream to FILE")
