"""End-to-end fixtures: the real SDKs talk to the provider simulator over real sockets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent import AIAgent
from agent.events import AgentEvent
from agent.testing import ProviderSimulator


@dataclass(frozen=True)
class WireSetup:
    """How to reach the simulator on one wire."""

    name: str  # the simulator's wire name
    provider: str
    model: str
    url: Callable[[ProviderSimulator], str]


WIRES = {
    "anthropic": WireSetup("anthropic", "anthropic", "claude-sonnet-4-6", lambda s: s.base_url),
    "openai": WireSetup("openai", "openai", "gpt-4o", lambda s: s.openai_base_url),
}


@pytest.fixture
def sim() -> Iterator[ProviderSimulator]:
    with ProviderSimulator() as simulator:
        yield simulator


@pytest.fixture(params=sorted(WIRES))
def wire(request: pytest.FixtureRequest) -> WireSetup:
    return WIRES[request.param]


@pytest.fixture
def make_agent(sim: ProviderSimulator, wire: WireSetup, tmp_path: Path) -> Iterator[Callable[..., AIAgent]]:
    agents: list[AIAgent] = []

    def make(**overrides: Any) -> AIAgent:
        options: dict[str, Any] = {
            "provider": wire.provider,
            "model": wire.model,
            "base_url": wire.url(sim),
            "api_key": "test-key",
            "workdir": tmp_path,
            "stale_timeout": 5.0,
        }
        options.update(overrides)
        agent = AIAgent(**options)
        agents.append(agent)
        return agent

    yield make
    for agent in agents:
        agent.close()


def kinds(events: list[AgentEvent]) -> list[str]:
    return [e.kind for e in events]


def of_kind(events: list[AgentEvent], kind: str) -> list[Any]:
    return [e for e in events if e.kind == kind]
