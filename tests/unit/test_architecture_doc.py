"""docs/architecture.md stays true: every module and name it mentions exists."""

from __future__ import annotations

import re
from pathlib import Path

from tests.unit.test_layers import LAYERS

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "architecture.md").read_text()


def test_every_path_it_mentions_exists() -> None:
    paths = set(re.findall(r"`((?:agent|tools|tests|docs)/[\w/]*(?:\.py|\.md)?)`", DOC))
    assert paths, "the page names no modules"
    missing = [p for p in sorted(paths) if not (ROOT / p).exists()]
    assert missing == []


def test_its_layer_table_matches_the_layer_test() -> None:
    rows = re.findall(r"^\| (\d+) \| (.+?) \|", DOC, re.M)
    documented = {int(n): set(re.findall(r"`(agent/[\w/]*?)(?:\.py)?/?`", cells)) for n, cells in rows}
    tested = {i: {name.replace(".", "/") for name in names if name != "agent"} for i, names in enumerate(LAYERS)}
    assert documented == tested


def test_the_names_it_points_at_exist() -> None:
    import agent.call
    import agent.context.keeper
    import agent.providers.provider_base
    import agent.recovery.fallback
    import agent.recovery.policy
    import tools.base

    assert agent.call.CallSettings.stall_limits and agent.call.CallState
    assert agent.recovery.policy.decide and agent.recovery.policy.RetryBudget
    assert agent.recovery.fallback.ProviderChain.fall_back and agent.context.keeper.ContextKeeper
    assert tools.base.ToolRegistry.execute and agent.providers.provider_base.ProviderBase
