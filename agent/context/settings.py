"""How the agent keeps a long conversation inside the model's context window."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from agent.errors import ConfigError


@dataclass(frozen=True, slots=True)
class CompactionSettings:
    """``AIAgent(compaction=...)`` and the config file's ``[compaction]`` table.

    ``enabled=False`` turns trimming and compaction off (a context-length error then
    goes to the fallback chain, or ends the turn). Shares (``threshold``,
    ``keep_recent``) are fractions of the model's context window.
    """

    enabled: bool = True
    trim: bool = True  # stub old, large tool results before asking for a summary
    threshold: float = 0.8  # compact when a request would pass this share of the window
    keep_recent: float = 0.25  # recent messages kept whole after a compaction, share of the window
    keep_tool_rounds: int = 5  # the most recent tool rounds keep their results whole
    trim_min_tokens: int = 200  # only tool results larger than this are stubbed
    margin_tokens: int = 1_024  # kept free below the window for the estimate's error
    summary_max_tokens: int = 4_096  # the summary's output limit (less on a small window)
    max_summary_attempts: int = 3  # a summary request that is too large drops its oldest part, this often

    @classmethod
    def coerce(cls, value: CompactionSettings | bool | dict[str, Any] | None) -> CompactionSettings | None:
        """From ``AIAgent(compaction=...)``: settings, True (defaults), False (off), a
        mapping of field values, or None (not given)."""
        if value is None or isinstance(value, CompactionSettings):
            return value
        if isinstance(value, bool):
            return cls(enabled=value)
        if isinstance(value, dict):
            known = {f.name for f in fields(cls)}
            unknown = set(value) - known
            if unknown:
                raise ConfigError(f"unknown compaction setting(s): {', '.join(sorted(unknown))}")
            return cls(**value).validated()
        raise ConfigError(f"compaction must be CompactionSettings, True/False or a dict, not {value!r}")

    def validated(self) -> CompactionSettings:
        """Raise ``ConfigError`` for values that cannot work."""
        for name in ("threshold", "keep_recent"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise ConfigError(f"compaction {name} must be a share of the window between 0 and 1, not {value}")
        if self.keep_recent >= self.threshold:
            raise ConfigError(
                f"compaction keep_recent ({self.keep_recent}) must be below threshold ({self.threshold}), "
                "or a compaction could not make room"
            )
        for name in ("keep_tool_rounds",):
            if getattr(self, name) < 0:
                raise ConfigError(f"compaction {name} must be 0 or more, not {getattr(self, name)}")
        for name in ("trim_min_tokens", "margin_tokens", "summary_max_tokens", "max_summary_attempts"):
            if getattr(self, name) < 1:
                raise ConfigError(f"compaction {name} must be at least 1, not {getattr(self, name)}")
        return self
