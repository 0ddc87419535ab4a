"""Event -> one status line, shared by the single-shot and the chat front ends.

Plain strings without styling: single shot writes them to stderr as they are, the chat
dims them with rich, and the tests compare them directly. Every line is guaranteed to
be a single line free of control characters, because targets, summaries and error
details come from the model, the tools or the network and must not be able to break
the layout or inject terminal escape sequences.
"""

from __future__ import annotations

from agent.cli.safe_text import clean
from agent.events import (
    AgentEvent,
    Compacted,
    ConnectionReset,
    ContextFill,
    ContextTrimmed,
    Continuing,
    FallbackActivated,
    FallbackExhausted,
    Notice,
    Retrying,
    RetryWaiting,
    Stalled,
    StallGuidance,
    ToolCallFinished,
    ToolCallStarted,
    TurnFinished,
    Waiting,
)

TARGET_LIMIT = 60  # a shell command as target can be long; the tool line stays readable
LINE_LIMIT = 200
# Line breaks and page breaks separate words on one line; other controls just go.
_BREAKS = str.maketrans("\r\v\f\x85", "    ")

WAITING = "waiting for the provider ({seconds:.0f}s)"
_STALLED = {
    "first_delta": "stalled: no first token after {seconds:.1f}s; dropping the connection",
    "between_deltas": "stalled: the stream went silent for {seconds:.1f}s; dropping the connection",
    "total": "stalled: the reply took longer than {seconds:.1f}s in total; dropping the connection",
}


def one_line(text: str, limit: int = LINE_LIMIT) -> str:
    """``text`` made safe (``safe_text.clean``) and flat: whitespace collapsed to single
    spaces; cut to ``limit``."""
    flat = " ".join(clean(text.translate(_BREAKS)).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _tool_label(name: str, target: str | None) -> str:
    label = one_line(name, 40)
    if target:
        label += " " + one_line(target, TARGET_LIMIT)
    return label


def status_line(event: AgentEvent) -> str | None:
    """The progress line for ``event``, or None for events that are not shown as a status
    (streamed text and thinking, call bookkeeping, the final ``TurnFinished``)."""
    match event:
        case ToolCallStarted() | ToolCallFinished() | StallGuidance():
            return _tool_status(event)
        case Retrying() | RetryWaiting():
            return _retry_status(event)
        case Stalled() | Waiting() | ConnectionReset() | Continuing():
            return _stream_status(event)
        case FallbackActivated():
            return f"⇄ {one_line(event.message)}"
        case FallbackExhausted(answers=answers):
            told = "; ".join(one_line(answer, 80) for answer in answers) or "no answer"
            return f"✗ every provider in the fallback chain failed: {one_line(told, 160)}"
        case ContextTrimmed() | Compacted():
            return _context_status(event)
        case Notice(message=message, level=level):
            prefix = "" if level == "info" else f"{level}: "
            return f"• {prefix}{one_line(message)}"
    return None


def _tool_status(event: ToolCallStarted | ToolCallFinished | StallGuidance) -> str:
    """A tool call starting or ending, or one that keeps getting cut off."""
    match event:
        case ToolCallStarted(name=name, target=target):
            return f"→ {_tool_label(name, target)}"
        case ToolCallFinished(name=name, target=target, is_error=is_error, summary=summary, duration=duration):
            mark = "✗" if is_error else "✓"
            return f"{mark} {_tool_label(name, target)}  {one_line(summary, 100)} ({duration:.1f}s)"
        case StallGuidance(tool=tool, target=target):
            label = _tool_label(tool, target)
            return f"✂ {label} kept getting cut off; asking the model to send it in smaller pieces"


def _retry_status(event: Retrying | RetryWaiting) -> str | None:
    """A retry after a failed call (``of=0``: a busy provider, retried within the budget),
    and the countdown to it."""
    match event:
        case Retrying(attempt=attempt, of=0, reason=reason, delay=delay, budget_left=left):
            return f"↻ {_busy_word(reason)}; retrying in {_duration(delay)}, attempt {attempt}{_more(left)}: " + (
                one_line(reason, 120)
            )
        case Retrying(attempt=attempt, of=total, reason=reason, delay=delay):
            wait = f" in {delay:.1f}s" if delay else ""
            return f"↻ retrying (attempt {attempt} of {total}){wait}: {one_line(reason, 120)}"
        case RetryWaiting(seconds_left=left, attempt=attempt, budget_left=budget):
            if left % 10 or not left:  # a line every ten seconds is a countdown, not a flood
                return None
            return f"… retrying in {_duration(left)}, attempt {attempt}{_more(budget)}"


def _stream_status(event: Stalled | Waiting | ConnectionReset | Continuing) -> str:
    """What happened to the stream: a stall, a long wait, a connection reset, a continuation."""
    match event:
        case Stalled(seconds=seconds, phase=phase, keepalives=keepalives):
            line = "⚠ " + _STALLED.get(phase, _STALLED["between_deltas"]).format(seconds=seconds)
            return line.replace("; dropping", " (only keep-alives came); dropping") if keepalives else line
        case Waiting(seconds=seconds):
            return "… " + WAITING.format(seconds=seconds)
        case ConnectionReset(caller=caller, ok=ok, detail=detail):
            if ok:
                return f"⟲ connection reset ({one_line(caller, 40)})"
            extra = f": {one_line(detail, 120)}" if detail else ""
            return f"⚠ connection reset failed ({one_line(caller, 40)}){extra}"
        case Continuing(reason=reason):
            return f"↪ continuing: {one_line(reason, 120)}"


def _context_status(event: ContextTrimmed | Compacted) -> str:
    """Room made in the context window: old tool output stubbed, or earlier messages summarised."""
    match event:
        case ContextTrimmed(results=results, tokens_before=before, tokens_after=after):
            plural = "" if results == 1 else "s"
            return f"≋ context: {results:,} old tool output{plural} replaced by stubs ({before:,} → {after:,} tokens)"
        case Compacted(messages=messages, tokens_before=before, tokens_after=after, summary_tokens=summary):
            return (
                f"≋ context: {messages:,} earlier messages replaced by a {summary:,}-token summary "
                f"({before:,} → {after:,} tokens)"
            )


FILL_SHOWN_FROM = 0.5  # the chat shows the window's fill from half full, at each tenth


def fill_line(event: ContextFill, last_shown: float) -> str | None:
    """The chat's "context N% full" line, when the fill passed half and reached a new
    tenth since ``last_shown`` (the fraction last shown, 0.0 for none)."""
    if event.fraction < FILL_SHOWN_FROM or int(event.fraction * 10) <= int(last_shown * 10):
        return None
    return f"◔ context {event.fraction:.0%} full ({event.tokens:,} of {event.window:,} tokens)"


def _busy_word(reason: str) -> str:
    lowered = reason.lower()
    return "rate-limited" if "429" in lowered or "rate" in lowered else "overloaded"


def _duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"


def _more(budget_left: float | None) -> str:
    return "" if budget_left is None else f", up to {_duration(budget_left)} more"


def status_style(event: AgentEvent) -> str:
    """The chat's style for ``event``'s status line: dim, except for what went wrong."""
    match event:
        case ToolCallFinished(is_error=True) | FallbackExhausted() | Notice(level="error"):
            return "red"
        case Notice(level="warning"):
            return "yellow"
    return "dim"


def finish_line(event: TurnFinished) -> str | None:
    """The chat's closing status for a turn; None when it simply completed."""
    if event.status == "completed":
        return None
    if event.status == "interrupted":
        return f"■ {one_line(event.error or 'interrupted by the user')}"
    # Not cut: the error says what to do next, and that advice is the part at the end.
    return f"✗ error: {one_line(event.error or 'the turn failed', 10_000)}"
