"""The fallback chain after a context-length error: only a larger window helps, and once
the conversation has moved to one it stays there (it no longer fits the primary)."""

from __future__ import annotations

from agent.config import FallbackSpec
from agent.providers.base import ErrorFacts, Provider
from agent.recovery.fallback import ProviderChain
from agent.recovery.outcome import CallResult
from agent.recovery.policy import RetryDecision
from agent.testing import ScriptedProvider


def _failure(failure: str) -> CallResult:
    facts = ErrorFacts("http_status", "prompt is too long: 17000 tokens > 16000 maximum", 400)
    return CallResult("failed", [], error=facts, decision=RetryDecision("fail", 0.0, "x", failure))  # type: ignore[arg-type]


def _chain(*windows: int) -> tuple[ProviderChain, list[Provider]]:
    providers: list[Provider] = [ScriptedProvider(model=f"m{i}", context_window=w) for i, w in enumerate(windows)]
    specs = [FallbackSpec("custom", f"m{i}", "http://127.0.0.1:1") for i in range(1, len(windows))]
    by_model = {p.model: p for p in providers}
    chain = ProviderChain(providers[0], specs, lambda spec: by_model[spec.model], cooldown=0.0, clock=lambda: 100.0)
    return chain, providers


def _drain(gen: object) -> object:
    try:
        while True:
            next(gen)  # type: ignore[call-overload]
    except StopIteration as stop:
        return stop.value


def test_a_context_fallback_skips_smaller_windows_and_stays() -> None:
    chain, providers = _chain(16_000, 8_000, 200_000)
    assert _drain(chain.fall_back(_failure("context_length"))) == "switched"
    assert chain.current is providers[2]
    chain.start_turn()  # the cooldown (0 s) has passed, but the conversation does not fit the primary
    assert chain.current is providers[2]


def test_other_failures_still_return_to_the_primary() -> None:
    chain, providers = _chain(16_000, 200_000)
    assert _drain(chain.fall_back(_failure("overloaded"))) == "switched"
    chain.start_turn()
    assert chain.current is providers[0]
