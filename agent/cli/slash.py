"""Slash commands of the chat: parsing, completion and what each one does.

Pure logic on a duck-typed agent (``AIAgent`` in the chat, fakes in the tests); the
output goes through ``SlashContext.say`` and a turn (``/retry``) through
``SlashContext.run_turn``, so this module knows nothing about the terminal.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.cli.flags import PROVIDERS
from agent.cli.render import one_line
from agent.cli.session_list import human_time
from agent.pricing import format_usd

QUIT = "quit"
KEYS_HELP = (
    "Keys: Enter sends · Alt+Enter (or Esc then Enter) inserts a new line · Tab completes a command",
    "      Up/Down recall earlier input · Ctrl+C stops a running turn (the partial answer is kept),",
    "      clears the line, or at an empty prompt quits · Ctrl+D quits",
    "Start a message with // to send it as text that begins with /.",
)


@dataclass
class SlashContext:
    agent: Any
    say: Callable[[str, str], None]  # (line, style): "" plain, "dim", "red", "bold"...
    run_turn: Callable[[Callable[[], Iterator[Any]]], object]
    home: Path | None = None  # where the session store lives
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Command:
    name: str
    args: str
    summary: str
    handler: Callable[[SlashContext, str], str | None]
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelSpec:
    provider: str
    model: str | None
    base_url: str | None


def is_command(line: str) -> bool:
    return line.startswith("/") and not line.startswith("//")


def parse(line: str) -> tuple[str, str]:
    """ "/model openai:gpt-4o" -> ("model", "openai:gpt-4o"); names are case-insensitive."""
    name, _, arg = line.strip().removeprefix("/").partition(" ")
    return name.lower(), arg.strip()


def find(name: str) -> Command | None:
    for command in COMMANDS:
        if name == command.name or name in command.aliases:
            return command
    return None


def dispatch(line: str, ctx: SlashContext) -> str | None:
    """Run one slash command; returns ``QUIT`` when the chat should end."""
    name, arg = parse(line)
    command = find(name)
    if command is None:
        ctx.say(unknown_message(name), "yellow")
        return None
    try:
        return command.handler(ctx, arg)
    except Exception as exc:  # a command must never take the chat down
        ctx.say(f"✗ /{command.name} failed: {one_line(str(exc) or type(exc).__name__, 400)}", "red")
        return None


def unknown_message(name: str) -> str:
    names = [c.name for c in COMMANDS] + [a for c in COMMANDS for a in c.aliases]
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" Did you mean /{close[0]}?" if close else ""
    shown = one_line(name, 40) or "(nothing)"
    return f"Unknown command /{shown}.{hint} Type /help for the commands; start a message with // to send it as text."


def completions(text: str) -> list[tuple[str, int, str]]:
    """Completions for the input so far: (text to insert, start offset, description)."""
    if not is_command(text) or "\n" in text:
        return []
    if " " not in text:
        word = text[1:].lower()
        return [(f"/{c.name}", -len(text), c.summary) for c in COMMANDS if c.name.startswith(word)]
    name, _, arg = text[1:].partition(" ")
    if name.lower() == "model" and ":" not in arg and " " not in arg:
        return [(f"{p}:", -len(arg), f"a model of {p}") for p in PROVIDERS if p.startswith(arg)]
    return []


# -- /model ------------------------------------------------------------------------------


def parse_model_spec(arg: str, current: str) -> ModelSpec:
    """``provider:model``, ``custom:model@URL``, ``provider`` (its default model) or
    ``model`` (on the current provider). Model names may contain ':' (qwen3:8b)."""
    text = arg.strip()
    base_url = None
    at = max(text.rfind("@http://"), text.rfind("@https://"))
    if at >= 0:
        text, base_url = text[:at], text[at + 1 :]
    prefix, sep, rest = text.partition(":")
    if sep and prefix.lower() in PROVIDERS:
        provider, model = prefix.lower(), rest.strip() or None
    elif text.lower() in PROVIDERS:
        provider, model = text.lower(), None
    else:
        provider, model = ("custom" if base_url and current != "custom" else current), text or None
    if provider == "custom" and base_url is None and current != "custom":
        raise ValueError("a custom endpoint needs its URL: /model custom:MODEL@http://127.0.0.1:11434/v1")
    if provider == "custom" and model is None:
        raise ValueError("name the model: /model custom:MODEL@URL")
    return ModelSpec(provider, model, base_url)


def current_provider_name(agent: Any) -> str:
    settings = getattr(agent, "settings", None)
    return str(getattr(settings, "provider", None) or agent.provider.name)


def switch_model(agent: Any, spec: ModelSpec) -> Any:
    """``agent.switch_model`` for ``spec``. On another provider, the endpoint, key and
    wire of the old one must not carry over (an Anthropic key sent to OpenAI, or the old
    base URL kept): ``switch_model`` keeps unset values, so they are cleared first and
    restored if the switch fails."""
    settings = getattr(agent, "settings", None)
    changes = spec.provider != current_provider_name(agent)
    clearable = changes and dataclasses.is_dataclass(settings) and not isinstance(settings, type)
    if clearable:
        agent.settings = dataclasses.replace(settings, base_url=None, api_key=None, api_mode=None, model=None)  # type: ignore[type-var]
    try:
        return agent.switch_model(spec.provider, spec.model, spec.base_url)
    except BaseException:
        if clearable:
            agent.settings = settings
        raise


def describe_provider(provider: Any) -> str:
    parts = [provider.name, provider.model, getattr(provider, "wire", "")]
    url = getattr(provider, "base_url", "")
    text = " · ".join(p for p in parts if p)
    return f"{text} · {url}" if url else text


def _model(ctx: SlashContext, arg: str) -> None:
    agent = ctx.agent
    if not arg:
        ctx.say(f"model: {describe_provider(agent.provider)}", "")
        ctx.say("switch with /model PROVIDER:MODEL, /model MODEL, or /model custom:MODEL@URL", "dim")
        return
    try:
        spec = parse_model_spec(arg, current_provider_name(agent))
    except ValueError as exc:
        ctx.say(str(exc), "yellow")
        return
    try:
        provider = switch_model(agent, spec)
    except Exception as exc:  # ConfigError, MissingKeyError: the message says what to set
        ctx.say(f"✗ cannot switch: {one_line(str(exc), 400)} (still on {agent.provider.model})", "red")
        return
    ctx.say(f"now using {describe_provider(provider)}; the conversation continues", "dim")


# -- the other commands -----------------------------------------------------------------


def _help(ctx: SlashContext, arg: str) -> None:
    ctx.say("Commands:", "bold")
    for command in COMMANDS:
        usage = f"/{command.name}" + (f" {command.args}" if command.args else "")
        ctx.say(f"  {usage:<28} {command.summary}", "")
    for line in KEYS_HELP:
        ctx.say(line, "dim")


def _new(ctx: SlashContext, arg: str) -> None:
    ctx.agent.new_conversation()
    forget = ctx.extra.get("on_new")
    if callable(forget):
        forget()
    session = getattr(ctx.agent, "session_id", None)
    ctx.say("new conversation" + (f" (session {session})" if session else ""), "dim")


def _undo(ctx: SlashContext, arg: str) -> None:
    text = ctx.agent.undo()
    if text is None:
        ctx.say("nothing to undo", "dim")
        return
    ctx.say(f"undone: {one_line(text, 80)}", "dim")


def _retry(ctx: SlashContext, arg: str) -> None:
    try:
        events = ctx.agent.retry()
    except ValueError:
        ctx.say("nothing to retry yet", "dim")
        return
    ctx.run_turn(lambda: events)


def _tools(ctx: SlashContext, arg: str) -> None:
    tools = list(ctx.agent.tools)
    if not tools:
        ctx.say("no tools: the model can only answer in text", "dim")
        return
    for tool in tools:
        first = tool.description.split(". ")[0].rstrip(".")
        ctx.say(f"  {tool.name:<14} {one_line(first, 90)}", "")


def _usage(ctx: SlashContext, arg: str) -> None:
    usage = dict(getattr(ctx.agent, "total_usage", {}) or {})
    calls = int(usage.get("api_calls") or 0)
    ctx.say(f"since the chat started: {_tokens(usage)} in {calls:,} model calls", "")
    spend = getattr(ctx.agent, "total_spend", None)
    if spend is not None:
        for line in spend_lines(usage, spend.cost.total, spend.cost.unpriced, spend.waste_dict()):
            ctx.say(f"  {line}", "")
    last = getattr(ctx.agent, "last_result", None)
    if last is not None and getattr(last, "usage", None):
        cost = getattr(last, "cost_usd", None)
        ctx.say(f"last turn: {_tokens(last.usage)} in {last.api_calls:,} model calls, cost {format_usd(cost)}", "dim")
    context = getattr(ctx.agent, "context_usage", None)
    if context and context.get("window"):
        ctx.say(_context_line(context), "")


def _context_line(context: dict[str, Any]) -> str:
    """ "context: 9,300 of 16,000 tokens (58%)", and what was done to keep it there."""
    line = f"context: {int(context['tokens']):,} of {int(context['window']):,} tokens ({float(context['fill']):.0%})"
    done = []
    if context.get("compactions"):
        done.append(f"{context['compactions']:,} compaction{'s' if context['compactions'] != 1 else ''}")
    if context.get("trimmed_results"):
        done.append(f"{context['trimmed_results']:,} tool outputs stubbed")
    return line + (f"; so far {', '.join(done)}" if done else "")


def _compact(ctx: SlashContext, arg: str) -> None:
    compact = getattr(ctx.agent, "compact", None)
    if not callable(compact):
        ctx.say("this chat cannot compact the conversation", "yellow")
        return
    ctx.run_turn(lambda: compact(arg or None))


def _tokens(usage: dict[str, Any]) -> str:
    """ "N input + M output tokens" (input: the whole prompt, cached parts included),
    saying "not reported" for what the server did not send."""

    def figure(key: str) -> str:
        value = usage.get(key)
        return "not reported" if value is None else f"{int(value):,}"

    return f"{figure('prompt_tokens')} input + {figure('output_tokens')} output tokens"


def spend_lines(
    usage: dict[str, Any], cost: float | None, unpriced: tuple[str, ...], waste: dict[str, Any]
) -> list[str]:
    """The cache, cost and recovery lines of /usage."""
    read, write, prompt = (usage.get(k) for k in ("cache_read_tokens", "cache_write_tokens", "prompt_tokens"))
    if read is None and write is None:
        cache = "cache: not reported by the provider"
    else:
        share = f" ({int(read or 0) / int(prompt):.0%} of input)" if prompt else ""
        cache = f"cache: {int(read or 0):,} tokens read{share}, {int(write or 0):,} written"
    price = f"cost: {format_usd(cost)}"
    if unpriced:
        names = ", ".join(one_line(m, 40) for m in unpriced)
        price += (
            f' (no price or no usage for {names}; prices go under [models."ID"] in the config file: '
            "input_price, output_price, cache_read_price, cache_write_price)"
        )
    resent, thrown = int(waste.get("prompt_tokens") or 0), int(waste.get("output_tokens") or 0)
    if resent or thrown:
        estimated = " (estimated)" if waste.get("estimated") else ""
        recovery = (
            f"recovery: {resent:,} input tokens re-sent, {thrown:,} output tokens thrown away{estimated}, "
            f"{format_usd(waste.get('cost_usd'))}"
        )
    else:
        recovery = "recovery: nothing re-sent or thrown away"
    return [cache, price, recovery]


def _store(ctx: SlashContext) -> Any:
    from agent.sessions import DB_NAME, SessionStore

    home = ctx.home or Path(os.environ.get("STAYLINE_HOME") or Path.home() / ".stayline").expanduser()
    if not (home / DB_NAME).exists():
        return None
    return SessionStore(home)


def _sessions(ctx: SlashContext, arg: str) -> None:
    store = _store(ctx)
    if store is None:
        ctx.say("no saved sessions yet", "dim")
        return
    with store:
        infos = store.list(limit=20)
    if not infos:
        ctx.say("no saved sessions yet", "dim")
        return
    current = getattr(ctx.agent, "session_id", None)
    now = time.time()
    for info in infos:
        mark = "*" if info.id == current else " "
        title = one_line(info.title or "(untitled)", 40)
        ctx.say(
            f"{mark} {info.id}  {human_time(info.last_used, now):>14}  {info.message_count:>3} msgs  "
            f"{one_line(info.model, 30)} via {info.provider}  {title}",
            "",
        )
    ctx.say("resume one with /resume ID (a unique start of the ID is enough)", "dim")


def _resume(ctx: SlashContext, arg: str) -> None:
    if not arg:
        ctx.say("usage: /resume ID (see /sessions)", "yellow")
        return
    store = _store(ctx)
    if store is None:
        ctx.say("no saved sessions yet", "yellow")
        return
    with store:
        info = store.get(arg)
        matches = [info] if info is not None else [s for s in store.list(limit=1000) if s.id.startswith(arg)]
    if len(matches) != 1:
        problem = "no session" if not matches else f"{len(matches)} sessions"
        ctx.say(f"{problem} matching {one_line(arg, 40)!r}; see /sessions", "yellow")
        return
    session_id = matches[0].id
    if session_id == getattr(ctx.agent, "session_id", None):
        ctx.say("that is the current session", "dim")
        return
    resume = getattr(ctx.agent, "resume_session", None)
    if callable(resume):  # an AIAgent that can switch sessions in place
        resume(session_id)
        ctx.say(f"resumed session {session_id} ({matches[0].message_count} messages)", "dim")
        return
    ctx.say(f"This chat cannot switch sessions in place yet. Quit and run: stayline --resume {session_id}", "")


def _quit(ctx: SlashContext, arg: str) -> str:
    return QUIT


COMMANDS: tuple[Command, ...] = (
    Command("help", "", "this list", _help, ("?",)),
    Command("new", "", "start a new conversation", _new, ("clear",)),
    Command("retry", "", "run the last turn again", _retry),
    Command("undo", "", "forget the last turn (your message and the answer)", _undo),
    Command("model", "[provider:model]", "show or switch the model (also custom:MODEL@URL)", _model),
    Command("tools", "", "the tools the model can use", _tools),
    Command("sessions", "", "saved sessions", _sessions),
    Command("resume", "ID", "continue a saved session", _resume),
    Command("usage", "", "tokens, cost and model calls so far, and how full the context window is", _usage),
    Command("compact", "[focus]", "summarise the older conversation now (the summary stresses the focus)", _compact),
    Command("quit", "", "leave (also Ctrl+D)", _quit, ("exit", "q")),
)
