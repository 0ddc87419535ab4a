"""The fallback chain: when a provider cannot deliver, finish the turn on the next one.

The history is neutral, so moving to another wire needs no conversion here: each
provider renders it for its own wire (and drops thinking whose signature cannot cross).
Switching resets the failed provider's connection through its one reset path.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Literal

from agent.config import FallbackSpec
from agent.events import AgentEvent, ConnectionReset, FallbackActivated, FallbackExhausted, Notice
from agent.providers.base import Provider
from agent.recovery.outcome import CallResult, ProviderHealth
from agent.recovery.policy import FailureClass, describe
from agent.streaming.watchdog import Clock

DEFAULT_COOLDOWN = 60.0
SwitchOutcome = Literal["switched", "no_fallback", "exhausted"]
_BACKEND_FAILURES = frozenset({"transient", "overloaded", "auth", "wrong_url"})


def provider_label(provider: Provider) -> str:
    return f"{provider.model} via {provider.name}"


@dataclass(slots=True)
class _Entry:
    spec: FallbackSpec | None  # None: the primary, built by the agent itself
    provider: Provider | None = None
    health: ProviderHealth = field(default_factory=ProviderHealth)
    failed_at: float | None = None


class ProviderChain:
    """The primary provider and its fallbacks, in order; ``current`` serves the turn."""

    def __init__(
        self,
        primary: Provider,
        fallbacks: list[FallbackSpec],
        build: Callable[[FallbackSpec], Provider],
        *,
        cooldown: float = DEFAULT_COOLDOWN,
        clock: Clock = time.monotonic,
    ) -> None:
        self._entries = [_Entry(None, primary)] + [_Entry(spec) for spec in fallbacks]
        self._build = build
        self._cooldown = cooldown
        self._clock = clock
        self._active = 0
        self._answers: list[str] = []
        self._policy_fallbacks = 0
        # After a fallback for a context-length error the conversation no longer fits the
        # earlier entries: this one stays in use for the rest of the session.
        self._sticky: int | None = None

    @property
    def current(self) -> Provider:
        provider = self._entries[self._active].provider
        assert provider is not None  # the active entry was built when it became active
        return provider

    @property
    def health(self) -> ProviderHealth:
        return self._entries[self._active].health

    @property
    def has_fallbacks(self) -> bool:
        return len(self._entries) > 1

    @property
    def can_fall_back(self) -> bool:
        """An entry after the current one could take a failing call over."""
        return self._active < len(self._entries) - 1

    def start_turn(self) -> list[AgentEvent]:
        """Each turn starts on the primary again once its cooldown has passed (not after a
        fallback to a larger context window: the conversation would not fit the primary)."""
        self._answers = []
        self._policy_fallbacks = 0
        if self._sticky is not None:
            self._active = self._sticky
            return self.take_notices()
        events: list[AgentEvent] = []
        primary = self._entries[0]
        if self._active != 0 and primary.failed_at is not None and self._clock() - primary.failed_at >= self._cooldown:
            self._active = 0
            primary.failed_at = None
            primary.health = ProviderHealth()
            events.append(Notice(f"trying the primary model again: {provider_label(self.current)}"))
        return events + self.take_notices()

    def take_notices(self) -> list[AgentEvent]:
        """What the current provider has to say (a corrected URL, a gateway found), once."""
        notices = self.current.notices
        events: list[AgentEvent] = [Notice(text, "warning") for text in notices]
        notices.clear()
        return events

    def fall_back(self, result: CallResult) -> Generator[AgentEvent, None, SwitchOutcome]:
        """Move to the next usable entry after ``result`` failed."""
        failed = self._entries[self._active]
        failed_provider = self.current
        failure: FailureClass = result.decision.failure if result.decision else "other"
        reason = _short_reason(result)
        self._answers.append(f"{provider_label(failed_provider)}: {reason}")
        failed.failed_at = self._clock()
        if not self.has_fallbacks or not self._allowed(failure):
            return "no_fallback"
        report = failed_provider.reset("fallback")
        yield ConnectionReset(report.wire, report.caller, report.ok, report.detail)
        for index in range(self._active + 1, len(self._entries)):
            entry = self._entries[index]
            if self._same_backend(failed_provider, entry, failure):
                continue
            provider = yield from self._ready(entry)
            if provider is None:
                continue
            if failure == "context_length" and _window(provider) <= _window(failed_provider):
                self._answers.append(f"{provider_label(provider)}: skipped, its context window is not larger")
                continue
            if failure == "auth":
                yield Notice(f"{provider_label(failed_provider)} refused the credentials: check its key", "warning")
            self._active = index
            entry.health = ProviderHealth()
            if failure == "context_length":
                self._sticky = index
                yield Notice(f"{provider_label(provider)} has the larger context window: it stays in use from now on")
            yield FallbackActivated(provider_label(failed_provider), provider_label(provider), reason)
            return "switched"
        yield FallbackExhausted(tuple(self._answers))
        self._active = self._sticky or 0  # the next turn starts from the top of the chain again
        return "exhausted"

    def _allowed(self, failure: FailureClass) -> bool:
        if failure == "content_policy":
            self._policy_fallbacks += 1
            return self._policy_fallbacks == 1  # another model may judge differently, once
        return True

    def _same_backend(self, failed: Provider, entry: _Entry, failure: FailureClass) -> bool:
        spec = entry.spec
        if spec is None:
            return entry.provider is failed
        same_host = spec.provider == failed.name and (spec.base_url or None) in (None, failed.base_url or None)
        if failure in _BACKEND_FAILURES:
            return same_host  # the whole backend is in trouble: another model there will not help
        return same_host and spec.model == failed.model

    def _ready(self, entry: _Entry) -> Generator[AgentEvent, None, Provider | None]:
        if entry.provider is not None:
            return entry.provider
        assert entry.spec is not None
        try:
            entry.provider = self._build(entry.spec)
        except Exception as exc:  # a fallback that cannot even be built is reported, not fatal
            self._answers.append(f"{entry.spec.label}: not usable: {exc}")
            yield Notice(f"fallback {entry.spec.label} is not usable: {exc}", "warning")
            return None
        return entry.provider

    def exhausted_message(self) -> str:
        lines = "; ".join(self._answers)
        return (
            f"every provider in the fallback chain failed ({lines}). The conversation so far is kept; "
            "say 'continue' to try again, or check the providers' status and keys."
        )

    def close(self) -> None:
        for entry in self._entries:
            if entry.provider is not None:
                entry.provider.close()


def _window(provider: Provider) -> int:
    return provider.context_window


def _short_reason(result: CallResult) -> str:
    facts = result.error
    if facts is None:
        return "no usable reply"
    if facts.kind == "stale" and result.stalls:
        return f"{facts.message.removeprefix('the provider ')}, {result.stalls}x"
    return describe(facts)
