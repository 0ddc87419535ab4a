"""The tool layer: what a tool is, the context it runs in and the registry that runs it.

``ToolRegistry.execute`` never raises. Whatever goes wrong inside a tool becomes an
error *result* for the model to read, because a crashed turn loses the user's work
while an error result lets the model correct itself. Every outcome, error or not, goes
through the context's ``redact`` before it leaves the registry: that is the one place
where secret values are taken out of what the model, the session and the UI see.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tools.sandbox import Sandbox
from tools.schema import compile_validator, validate_arguments

__all__ = [
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolOutcome",
    "ToolRegistry",
    "target_of",
    "validate_arguments",
]

# Tools cap their own output cleverly (head and tail, a hint how to read on). This
# backstop only catches a tool that forgot, so it allows some room for headers/notes.
_BACKSTOP_SLACK = 1_000
_SUMMARY_WIDTH = 80

log = logging.getLogger(__name__)


class ToolError(Exception):
    """Raised by a handler: the message goes back to the model as an error tool result."""


@dataclass
class ToolContext:
    """What a tool handler gets besides its arguments: the working directory it is confined to, the
    approval callback for dangerous actions, the output cap, the cancel event, the environment
    and sandbox for commands, and the redactor applied to every outcome."""

    workdir: Path
    # (tool_name, description_of_action) -> allowed? None means everything is allowed.
    approve: Callable[[str, str], bool] | None = None
    max_output_chars: int = 50_000
    # Set when the user interrupts the turn: a long-running tool (terminal) polls it and
    # stops its work early. None means the tool cannot be interrupted.
    cancel: threading.Event | None = None
    # The environment commands run with. None: this process's, without what the default
    # denylist of tools.secrets matches (the agent passes one without its provider keys).
    environment: Mapping[str, str] | None = None
    # Applied to every outcome's text (tools.secrets.Redactor); None leaves text as it is.
    redact: Callable[[str], str] | None = None
    # Run commands under bubblewrap (tools.sandbox); None runs them directly.
    sandbox: Sandbox | None = None

    def __post_init__(self) -> None:
        # Confinement checks compare resolved paths, so the root must be resolved too.
        self.workdir = Path(self.workdir).resolve()


Handler = Callable[[dict[str, Any], ToolContext], str]
Summarizer = Callable[[dict[str, Any], str], str]


@dataclass(frozen=True)
class Tool:
    """A tool the model can call: name, description, JSON schema of its arguments, the handler
    ``(arguments, context) -> str``, and whether it has side effects."""

    name: str
    description: str
    schema: dict[str, Any]  # JSON Schema of the arguments object
    handler: Handler
    side_effects: bool = False
    # Builds the one-line UI summary from (arguments, content); None = count lines.
    summarize: Summarizer | None = None


@dataclass(frozen=True)
class ToolOutcome:
    content: str
    is_error: bool
    summary: str  # one line for the UI, e.g. "wrote 1,234 characters", "exit 0, 12 lines"


class ToolRegistry:
    """The tools of one agent, by name. Raises ``ValueError`` for a duplicate name or a schema
    that is not valid JSON Schema: a mistake in a tool shows when the agent is built."""

    def __init__(self, tools: Iterable[Tool]) -> None:
        self._tools: dict[str, Tool] = {}
        self._validators: dict[str, Callable[[Any], list[str]]] = {}
        for tool in tools:
            if tool.name in self._tools:
                raise ValueError(f"duplicate tool name {tool.name!r}")
            try:
                self._validators[tool.name] = compile_validator(tool.schema)
            except ValueError as exc:
                raise ValueError(f"tool {tool.name!r}: its schema is {exc}") from None
            self._tools[tool.name] = tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return list(self._tools)

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def execute(self, name: str, arguments: dict[str, Any], ctx: ToolContext) -> ToolOutcome:
        """Run a tool call; every failure becomes an error outcome instead of an exception.
        The outcome's content and summary have been through ``ctx.redact``."""
        outcome = self._execute(name, arguments, ctx)
        if ctx.redact is None:
            return outcome
        return replace(outcome, content=ctx.redact(outcome.content), summary=ctx.redact(outcome.summary))

    def _execute(self, name: str, arguments: dict[str, Any], ctx: ToolContext) -> ToolOutcome:
        tool = self._tools.get(name)
        if tool is None:
            available = ", ".join(self._tools) or "none"
            return _error(f"unknown tool '{name}'; available tools: {available}")
        if arguments is None:  # some wires send null for a call without arguments
            arguments = {}
        try:
            problems = self._validators[name](arguments)
        except Exception as exc:  # e.g. a "$ref" in a hand-written schema that leads nowhere
            detail = _one_line(f"{type(exc).__name__}: {exc}")
            return _error(f"tool {name} cannot run, its schema is broken ({detail}); do not call it again")
        if problems:
            return _error(f"invalid arguments for {name}: " + "; ".join(problems))
        try:
            content = str(tool.handler(arguments, ctx))
        except ToolError as exc:
            return _error(str(exc) or f"{name} failed")
        except Exception as exc:  # a tool bug must not end the turn; no traceback to the model
            return _error(f"tool {name} failed: {type(exc).__name__}: {exc}")
        content = _backstop(content, ctx.max_output_chars + _BACKSTOP_SLACK)
        return ToolOutcome(content=content, is_error=False, summary=_summarize(tool, arguments, content))


def target_of(arguments: dict[str, Any]) -> str | None:
    """The path or command an invocation is about, for display next to the tool name."""
    if not isinstance(arguments, dict):
        return None
    for key in ("path", "command"):
        value = arguments.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _error(message: str) -> ToolOutcome:
    return ToolOutcome(content=message, is_error=True, summary=_one_line(f"error: {message}"))


def _summarize(tool: Tool, arguments: dict[str, Any], content: str) -> str:
    if tool.summarize is not None:
        try:
            return _one_line(tool.summarize(arguments, content))
        except Exception as exc:  # a summary is cosmetic; never let it turn success into failure
            log.debug("summary of %s failed: %s", tool.name, exc)
    lines = content.count("\n") + (1 if content and not content.endswith("\n") else 0)
    return f"{lines:,} line{'' if lines == 1 else 's'}"


def _one_line(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    if len(first) > _SUMMARY_WIDTH:
        return first[: _SUMMARY_WIDTH - 1] + "…"
    return first


def _backstop(content: str, limit: int) -> str:
    if len(content) <= limit:
        return content
    cut = len(content) - limit
    return content[:limit] + f"\n[output truncated: {cut:,} more characters not shown]"
