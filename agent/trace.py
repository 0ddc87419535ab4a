"""The stream trace: one JSON line per stream event, for ``--trace-stream FILE``.

``TraceWriter`` is a ``StreamObserver``: it sees every delta of every attempt,
keep-alives included, and writes when it arrived (seconds since the trace started), what
kind it was and how many payload bytes it carried — never the payload itself, and never
the request, its headers or a key (none of them reach an observer; error messages are
scrubbed of anything that looks like a key all the same). Each attempt ends with a
summary line that says where the time went, e.g. "26 deltas in 3.0 s, then 125.0 s of
silence". Between calls it also records what was done to keep the conversation inside
the context window (``context_trimmed``, ``compacted``: tokens before and after).

Every line is flushed as soon as it is written, so a trace survives ``kill -9`` up to
the last event. A trace that cannot be written (disk full...) stops writing and records
why in ``write_error``; it never breaks the turn it is watching.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from agent.pricing import cache_hit_share, cost_of, format_usd
from agent.providers.deltas import (
    BlockEnd,
    Delta,
    KeepAlive,
    RedactedThinking,
    SignatureChunk,
    StopChunk,
    StreamEnd,
    TextChunk,
    ThinkingChunk,
    ToolArgsChunk,
    ToolCallBegin,
    UsageChunk,
)

if TYPE_CHECKING:
    from agent.events import Compacted, ContextTrimmed
    from agent.streaming.attempt import AttemptResult

Clock = Callable[[], float]

_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|AUTH", re.IGNORECASE)
_SECRET_SHAPES = re.compile(
    r"(?:sk|pk|rk)-[A-Za-z0-9_\-]{8,}"  # OpenAI / Anthropic / OpenRouter style keys
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=\-]{8,}"  # an Authorization header value
)
_MIN_SECRET_LEN = 8  # shorter environment values are too likely to be ordinary words
REDACTED = "[redacted]"


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", errors="surrogatepass"))


def describe_delta(delta: Delta) -> tuple[str, int, dict[str, Any]]:
    """The trace kind of a delta, its payload size in UTF-8 bytes, and extra fields."""
    match delta:
        case TextChunk(text=text):
            return "text", _utf8_len(text), {}
        case ThinkingChunk(text=text):
            return "thinking", _utf8_len(text), {}
        case SignatureChunk(signature=signature):
            return "signature", _utf8_len(signature), {}
        case RedactedThinking(data=data):
            return "redacted_thinking", _utf8_len(data), {}
        case ToolCallBegin(slot=slot, call_id=call_id, name=name):
            return "tool_call", _utf8_len(call_id) + _utf8_len(name), {"slot": slot, "name": name}
        case ToolArgsChunk(slot=slot, text=text):
            return "tool_args", _utf8_len(text), {"slot": slot}
        case BlockEnd():
            return "block_end", 0, {}
        case StopChunk(reason=reason, raw=raw):
            return "stop", _utf8_len(raw), {"reason": reason}
        case UsageChunk():
            figures = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
            return "usage", 0, {name: getattr(delta, name) for name in figures}
        case KeepAlive():
            return "keep_alive", 0, {}
        case StreamEnd():
            return "end", 0, {}
    return type(delta).__name__.lower(), 0, {}  # a delta class added after this module


@dataclass(slots=True)
class _AttemptStats:
    call: int | None
    attempt: int | None
    started: float
    first_byte: float | None = None
    first_progress: float | None = None
    last_progress: float | None = None
    longest_gap: float = 0.0
    deltas: int = 0
    progress: int = 0
    keep_alives: int = 0
    bytes: int = 0

    def record(self, now: float, progress: bool, keep_alive: bool, size: int) -> None:
        self.deltas += 1
        self.bytes += size
        if self.first_byte is None:
            self.first_byte = now
        if keep_alive:
            self.keep_alives += 1
        if not progress:
            return
        if self.last_progress is not None:
            self.longest_gap = max(self.longest_gap, now - self.last_progress)
        if self.first_progress is None:
            self.first_progress = now
        self.last_progress = now
        self.progress += 1


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _share(result: AttemptResult) -> float | None:
    share = cache_hit_share(result.snapshot.usage)
    return None if share is None else round(share, 4)


def _spend(result: AttemptResult) -> str:
    """ "; 12,345 prompt tokens, 93% from cache, $0.0042" (what is known of it)."""
    usage = result.snapshot.usage
    if usage.prompt_tokens is None:
        return ""
    share = cache_hit_share(usage)
    cached = f", {share:.0%} from cache" if share else ""
    cost = cost_of(usage, result.prices)
    priced = f", {format_usd(cost)}" if cost is not None else ""
    return f"; {usage.prompt_tokens:,} prompt tokens{cached}{priced}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


class TraceWriter:
    """Writes the stream trace of an agent to ``path`` (created or truncated)."""

    def __init__(self, path: str | Path, clock: Clock = time.monotonic) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.RLock()
        self._file = open(self.path, "w", encoding="utf-8", buffering=1)  # noqa: SIM115 (closed by close())
        self._origin = clock()
        self._current: _AttemptStats | None = None
        self._retries: dict[int, int] = {}  # call number -> attempts after the first
        self._attempts = 0
        self._secrets = self._secret_values()
        self.write_error: OSError | ValueError | None = None

    # -- the StreamObserver protocol ---------------------------------------------------
    def attempt_started(self, call_number: int, attempt: int, provider: str, model: str) -> None:
        with self._lock:
            now = self._now()
            self._current = _AttemptStats(call_number, attempt, now)
            self._attempts += 1
            retries = self._retries.setdefault(call_number, 0)
            if attempt > 1:
                self._retries[call_number] = retries + 1
            record = {"provider": provider, "model": model}
            self._write(self._line("attempt_start", now, 0, record))

    def delta(self, delta: Delta) -> None:
        with self._lock:
            now = self._now()
            kind, size, extra = describe_delta(delta)
            if self._current is not None:
                self._current.record(now, delta.progress, isinstance(delta, KeepAlive), size)
            self._write(self._line(kind, now, size, extra))

    def attempt_ended(self, result: AttemptResult) -> None:
        with self._lock:
            now = self._now()
            stats = self._current or _AttemptStats(None, None, now)
            self._current = None
            outcome = self._outcome(result)
            self._write(self._line("attempt_end", now, 0, outcome, stats))
            self._write(self._line("summary", now, stats.bytes, self._summary(stats, now, result), stats))

    # -- what happened to the context between calls --------------------------------------
    def context_event(self, event: ContextTrimmed | Compacted) -> None:
        """Record a trimming or a compaction: its kind, the tokens before and after, and
        (for a compaction) the summary's size and reason."""
        with self._lock:
            fields = {name: getattr(event, name) for name in event.__dataclass_fields__ if name != "kind"}
            self._write(self._line(event.kind, self._now(), 0, fields))

    # -- life ----------------------------------------------------------------------------
    def close(self) -> None:
        """Write the closing line and close the file; later events are ignored."""
        with self._lock:
            if self._file.closed:
                return
            record = {
                "calls": len(self._retries),
                "attempts": self._attempts,
                "retries": sum(self._retries.values()),
                "retries_per_call": {str(call): count for call, count in sorted(self._retries.items())},
            }
            self._current = None
            self._write(self._line("trace_end", self._now(), 0, record))
            try:
                self._file.close()
            except (OSError, ValueError) as exc:
                self.write_error = self.write_error or exc

    @property
    def closed(self) -> bool:
        return self._file.closed

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- lines ---------------------------------------------------------------------------
    def _now(self) -> float:
        return self._clock() - self._origin

    def _line(
        self, kind: str, now: float, size: int, extra: dict[str, Any], stats: _AttemptStats | None = None
    ) -> dict[str, Any]:
        """``stats`` is the attempt the line belongs to (default: the current one)."""
        stats = stats if stats is not None else self._current
        line: dict[str, Any] = {
            "t": round(now, 3),
            "kind": kind,
            "bytes": size,
            "call": stats.call if stats else None,
            "attempt": stats.attempt if stats else None,
        }
        line.update(extra)
        return line

    def _outcome(self, result: AttemptResult) -> dict[str, Any]:
        snapshot, error = result.snapshot, result.error
        return {
            "state": snapshot.state,
            "stop_reason": snapshot.stop_reason,
            **snapshot.usage.to_dict(),
            "cut_tool_call": snapshot.cut_call.name if snapshot.cut_call else None,
            "error_kind": error.kind if error else None,
            "error_message": self._scrub(error.message) if error else None,
            "error_status": error.status if error else None,
            "retry_after": error.retry_after if error else None,
            "interrupted": result.interrupted,
            "terminal_missing": result.terminal_missing,
        }

    def _summary(self, stats: _AttemptStats, now: float, result: AttemptResult) -> dict[str, Any]:
        def since_start(moment: float | None) -> float | None:
            return None if moment is None else moment - stats.started

        quiet_from = stats.last_progress if stats.last_progress is not None else stats.started
        return {
            "ttfb": _seconds(since_start(stats.first_byte)),
            "ttfp": _seconds(since_start(stats.first_progress)),
            "longest_gap": round(stats.longest_gap, 3),
            "silence_at_end": round(now - quiet_from, 3),
            "progress_deltas": stats.progress,
            "keep_alives": stats.keep_alives,
            "deltas": stats.deltas,
            "duration": round(now - stats.started, 3),
            "retries": self._retries.get(stats.call, 0) if stats.call is not None else 0,
            "prompt_tokens": result.snapshot.usage.prompt_tokens,
            "cache_hit_share": _share(result),
            "cost_usd": cost_of(result.snapshot.usage, result.prices),
            "sentence": self._sentence(stats, now, result),
        }

    def _sentence(self, stats: _AttemptStats, now: float, result: AttemptResult) -> str:
        count = _plural(stats.progress, "delta")
        pings = f" ({_plural(stats.keep_alives, 'keep-alive')} only)" if stats.keep_alives else ""
        error = result.error
        if error is not None and error.kind == "stale":
            if stats.last_progress is None:
                text = f"no deltas, {now - stats.started:.1f} s of silence{pings}"
            else:
                text = (
                    f"{count} in {stats.last_progress - stats.started:.1f} s, "
                    f"then {now - stats.last_progress:.1f} s of silence{pings}"
                )
        else:
            if result.interrupted:
                ending = "interrupted"
            elif error is not None:
                ending = f"failed ({error.kind}{f' {error.status}' if error.status else ''})"
            else:
                ending = result.snapshot.state
            text = f"{count} in {now - stats.started:.1f} s, {ending}"
        if stats.attempt is not None and stats.attempt > 1:
            text += f"; retry {stats.attempt - 1} of call {stats.call}"
        return text + _spend(result)

    # -- writing -------------------------------------------------------------------------
    def _write(self, line: dict[str, Any]) -> None:
        if self._file.closed or self.write_error is not None:
            return
        try:
            self._file.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
            self._file.flush()  # line buffering already does; explicit for kill -9
        except (OSError, ValueError) as exc:
            self.write_error = exc

    @staticmethod
    def _secret_values() -> list[str]:
        values = {v for k, v in os.environ.items() if _SECRET_NAME.search(k) and len(v) >= _MIN_SECRET_LEN}
        return sorted(values, key=len, reverse=True)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return _SECRET_SHAPES.sub(REDACTED, text)
