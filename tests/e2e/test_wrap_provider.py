"""``AIAgent(wrap_provider=...)``: the hook the batch runner's rate limiter uses reaches
every provider of the chain — the primary, each fallback as it is built, and a model
switched to later."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent import AIAgent
from agent.batch.limited import LimitedProvider
from agent.batch.limiter import RateLimiter
from agent.testing import HttpError, ProviderSimulator, Reply, Text


def test_the_hook_wraps_the_primary_the_fallback_and_a_switched_model(sim: ProviderSimulator, tmp_path: Path) -> None:
    sim.script(HttpError(401, "invalid x-api-key"), Reply(Text("from the fallback")), Reply(Text("after the switch")))
    limiter = RateLimiter(max_in_flight=1)
    wrapped: list[tuple[str, str]] = []

    def wrap(provider: Any) -> Any:
        wrapped.append((provider.name, provider.model))
        return LimitedProvider(provider, limiter, "task")

    agent = AIAgent(
        provider="anthropic",
        model="claude-sonnet-4-6",
        base_url=sim.base_url,
        api_key="k",
        workdir=tmp_path,
        tools=[],
        fallbacks=[f"custom:gpt-4o@{sim.openai_base_url}"],
        wrap_provider=wrap,
    )
    with agent:
        result = agent.run("hello")
        assert (result.status, result.final_text) == ("completed", "from the fallback")
        assert wrapped == [("anthropic", "claude-sonnet-4-6"), ("custom", "gpt-4o")]
        switched = agent.switch_model("openai", "gpt-4.1", base_url=sim.openai_base_url, api_key="k")
        assert isinstance(switched, LimitedProvider) and agent.provider is switched
        assert agent.run("again").final_text == "after the switch"
    assert wrapped[-1] == ("openai", "gpt-4.1")
    stats = limiter.stats()
    assert len(stats) == 3 and all(s.in_flight == 0 for s in stats.values())  # every slot came back
