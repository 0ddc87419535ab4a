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
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.cli import EXIT_INTERRUPTED, EXIT_USAGE

# API_MODES and PROVIDERS are re-exported: the tests import them from here.
from agent.cli.flags import API_MODES as API_MODES
from agent.cli.flags import PROG, build_parser
from agent.cli.flags import PROVIDERS as PROVIDERS

if TYPE_CHECKING:
    from agent.agent import AIAgent
    from agent.config import Settings

Approver = Callable[[str, str], bool]


class UsageError(Exception):
    """A flag combination or input that cannot work; reported as ``stayline: <message>``."""


def agent_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The ``AIAgent`` keyword arguments for the parsed flags (None = not given: the
    environment, the config file or the defaults decide)."""
    return {
        "provider": args.provider,
        "model": args.model,
        "base_url": args.base_url,
        "api_key": args.api_key,
        "workdir": args.workdir,
        "stale_timeout": args.stale_timeout,
        "first_token_timeout": args.first_token_timeout,
        "retry_budget": args.retry_budget,
        "max_retries": args.max_retries,
        "max_iterations": args.max_iterations,
        "api_mode": args.api_mode,
        "max_tokens": args.max_tokens,
        "fallbacks": args.fallbacks,
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
    return str(prompt)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``stayline`` and ``run_agent.py``; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["sessions"]:
        from agent.cli.session_list import sessions_command

        return sessions_command(argv[1:], stayline_home())
    if argv[:1] == ["batch"]:
        from agent.cli.batch import batch_command

        return batch_command(argv[1:], stayline_home())
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, argparse usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.json and _interactive(args):
        return _usage_error("--json needs a prompt: pass -q TEXT or pipe it on stdin")
    if args.json and args.stream_answer:
        return _usage_error("--stream and --json both write to stdout; choose one")
    try:
        return _run(args)
    except UsageError as exc:
        return _usage_error(str(exc))
    except KeyboardInterrupt:  # Ctrl+C outside a turn (while starting, reading stdin)
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def load_cli_settings(args: argparse.Namespace, *, interactive: bool) -> Settings:
    """The settings of this run: flags > environment > config file > defaults.

    Dangerous commands: ``--yolo`` allows them; otherwise the config file's ``approval``
    applies, except that a single shot has nobody to ask, so "ask" becomes "refuse".
    ``--sandbox`` turns the sandbox on whatever the file says.
    """
    from agent.config_file import config_path, load_settings

    path = config_path(stayline_home(), args.config)
    flags = agent_kwargs(args)
    if args.yolo:
        flags["approval"] = "yolo"
    if args.sandbox:
        flags["sandbox"] = True
    if args.no_stream:
        flags["stream"] = False
    flags["max_continuations"] = args.max_continuations
    settings = load_settings(path, flags, required=args.config is not None)
    if not interactive and settings.approval == "ask":
        settings = settings.with_values(approval="refuse")
    return settings


def session_choice(args: argparse.Namespace) -> str | None:
    """The ``AIAgent(session=...)`` of the flags: sessions are on unless --no-session."""
    if args.no_session:
        return None
    if args.continue_session:
        return "latest"
    return args.resume or "new"


def build_agent(
    args: argparse.Namespace,
    settings: Settings,
    *,
    approve: Approver | None = None,
    stream_observer: Any = None,
) -> AIAgent:
    """The agent for these flags and settings. ``approve(tool, action)`` decides on
    dangerous commands when ``settings.approval`` is "ask" (the chat passes its prompt);
    without it they are refused. Raises ConfigError (exit 2) when it cannot work."""
    from agent.agent import AIAgent

    return AIAgent(
        **agent_kwargs(args),
        settings=settings,
        session=session_choice(args),
        session_home=stayline_home(),
        approve=approve if settings.approval == "ask" else None,
        stream_observer=stream_observer,
    )


def _chat_view() -> Any:
    from agent.cli.live import make_view

    return make_view(sys.stdout)


def _chat_approver(view: Any) -> Any:
    """The chat's approval prompt (``agent.cli.approve.make_chat_approver``), which pauses
    ``view`` while it asks; None when this build has none: dangerous commands are then
    refused."""
    try:
        from agent.cli.approve import make_chat_approver
    except ModuleNotFoundError as exc:
        if exc.name != "agent.cli.approve":
            raise
        return None
    return make_chat_approver(pause=view.suspend)


def _trace_writer(path: str | None) -> Any:
    """``agent.trace.TraceWriter(path)`` for --trace-stream, or None (with a warning when
    this build has no trace module)."""
    if path is None:
        return None
    try:
        from agent.trace import TraceWriter
    except ModuleNotFoundError as exc:
        if exc.name != "agent.trace":
            raise
        print(f"{PROG}: warning: --trace-stream is not supported by this build; no trace written", file=sys.stderr)
        return None
    try:
        return TraceWriter(path)
    except OSError as exc:
        raise UsageError(f"cannot write the stream trace to {path}: {exc.strerror or exc}") from None


def _run(args: argparse.Namespace) -> int:
    from agent.errors import ConfigError

    interactive = _interactive(args)
    try:
        settings = load_cli_settings(args, interactive=interactive)
    except ConfigError as exc:
        return _usage_error(str(exc))
    trace = _trace_writer(args.trace_stream)
    try:
        try:
            view = _chat_view() if interactive else None  # the chat owns it; the approver pauses it
            approve = _chat_approver(view) if view is not None and settings.approval == "ask" else None
            agent = build_agent(args, settings, approve=approve, stream_observer=trace)
        except ConfigError as exc:  # includes MissingKeyError and an unknown --resume id
            from agent.cli.local_servers import missing_key_text, offer_on_terminal, servers_for

            servers = servers_for(exc, base_url=args.base_url, api_key=args.api_key)
            chosen = offer_on_terminal(servers) if interactive and servers else None
            if chosen is None:
                return _usage_error(missing_key_text(exc, servers))
            args = argparse.Namespace(**{**vars(args), "provider": "custom", "base_url": chosen[0], "model": chosen[1]})
            try:
                settings = load_cli_settings(args, interactive=interactive)
                approve = _chat_approver(view) if view is not None and settings.approval == "ask" else None
                agent = build_agent(args, settings, approve=approve, stream_observer=trace)
            except ConfigError as again:
                return _usage_error(str(again))
        with agent:
            if interactive:
                from agent.cli.repl import run_repl

                home = stayline_home()
                on_new = getattr(approve, "forget", None)  # /new forgets the "always" answers
                return run_repl(agent, history_path=home / "history", home=home, on_new=on_new, view=view)
            # Built before reading stdin so a missing key fails before the user types a prompt.
            prompt = _read_prompt(args)
            if args.continue_session or args.resume:
                _say_resumed(agent)
            from agent.cli.oneshot import run_single

            return run_single(
                agent, prompt, json_mode=args.json, out=sys.stdout, err=sys.stderr, stream=args.stream_answer
            )
    finally:
        if trace is not None:
            trace.close()


def _say_resumed(agent: AIAgent) -> None:
    count = len(agent.history)
    print(f"↺ continuing session {agent.session_id} ({count} earlier messages)", file=sys.stderr, flush=True)


def _usage_error(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return EXIT_USAGE
