"""Cost arithmetic against hand-computed figures, the price table, and recovery waste."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config_file import resolve_settings
from agent.config_reader import read_config
from agent.cost import Spend, Waste, discarded_reply_waste, failed_attempt_waste, recovery_waste
from agent.errors import ConfigError
from agent.messages import TextPart, ThinkingPart
from agent.models import ModelCatalog
from agent.pricing import CostTally, cache_hit_share, cost_of, format_usd
from agent.streaming.accumulator import CutToolCall, ResponseSnapshot
from agent.usage import Usage

# (model, ttl, usage, dollars worked out by hand from the published per-million prices)
HAND_COMPUTED = [
    # Sonnet 4.6: 1,000 x $3 + 500 x $15 + 100,000 x $0.30 + 2,000 x $3.75 = $48,000 per million
    ("claude-sonnet-4-6", "5m", Usage(1_000, 500, 100_000, 2_000), 0.048),
    # the same usage with 1-hour writes: 2,000 x $6 instead of x $3.75
    ("claude-sonnet-4-6", "1h", Usage(1_000, 500, 100_000, 2_000), 0.0525),
    # Opus 4.6: 2,000 x 5 + 1,000 x 25 + 50,000 x 0.50 + 10,000 x 6.25 = 122,500
    ("claude-opus-4-6", "5m", Usage(2_000, 1_000, 50_000, 10_000), 0.1225),
    # Haiku 4.5 through OpenRouter's id, no cache: 10,000 x 1 + 2,000 x 5 = 20,000
    ("anthropic/claude-haiku-4.5", "5m", Usage(10_000, 2_000, 0, 0), 0.02),
    # a dated Sonnet 4.5 id: 0 x 3 + 10 x 15 + 1,000 x 0.30 = 450
    ("claude-sonnet-4-5-20250929", "5m", Usage(0, 10, 1_000, 0), 0.00045),
    # GPT-4o: 800 x 2.50 + 200 x 10 + 1,280 x 1.25 (no write figure) = 5,600
    ("gpt-4o", "5m", Usage(800, 200, 1_280, None), 0.0056),
    # GPT-4.1: 100 x 8 + 4,096 x 0.50 = 2,848
    ("gpt-4.1", "5m", Usage(0, 100, 4_096), 0.002848),
    # a write reported for an OpenAI model is priced as input: 100 x 2.50 + 1,000 x 2.50 = 2,750
    ("gpt-4o", "1h", Usage(100, 0, 0, 1_000), 0.00275),
]


@pytest.mark.parametrize(("model", "ttl", "usage", "dollars"), HAND_COMPUTED)
def test_cost_matches_the_hand_computed_table(model: str, ttl: str, usage: Usage, dollars: float) -> None:
    prices = ModelCatalog().lookup(model).prices
    assert prices is not None
    assert cost_of(usage, prices.for_ttl(ttl)) == pytest.approx(dollars, rel=1e-12)


def test_unknown_is_never_zero() -> None:
    catalog = ModelCatalog()
    assert catalog.lookup("qwen3-coder").prices is None
    assert cost_of(Usage(1_000, 10), None) is None  # no price
    assert cost_of(Usage(), catalog.lookup("gpt-4o").prices) is None  # nothing reported
    assert cost_of(Usage(None, 5), catalog.lookup("gpt-4o").prices) is None  # no prompt figure
    tally = CostTally().add(0.5, "gpt-4o").add(None, "qwen3-coder").add(None, "qwen3-coder")
    assert tally.total is None and tally.usd == 0.5 and tally.unpriced == ("qwen3-coder",)
    assert format_usd(None) == "unknown" and format_usd(0.0123) == "$0.0123" and format_usd(12.345) == "$12.35"


def test_prices_match_only_the_model_or_its_dated_ids() -> None:
    catalog = ModelCatalog()
    assert catalog.lookup("gpt-4o-mini").prices != catalog.lookup("gpt-4o").prices  # not gpt-4o's
    assert catalog.lookup("gpt-4o-2024-08-06").prices == catalog.lookup("gpt-4o").prices
    assert catalog.lookup("claude-sonnet-4-7").prices is None  # a newer model is never priced as an older one
    assert catalog.lookup("gpt-4.1-mini").prices is None
    assert catalog.lookup("claude-3-5-haiku-20241022").prices == catalog.lookup("claude-3-5-haiku-latest").prices


def test_prices_are_overridable_per_model() -> None:
    catalog = ModelCatalog(
        {"qwen3-coder": {"input_price": 0.30, "output_price": 1.20}, "gpt-4o": {"cache_read_price": 0.5}}
    )
    # 10,000 x 0.30 + 1,000 x 1.20 = 4,200 per million
    assert cost_of(Usage(10_000, 1_000), catalog.lookup("qwen3-coder").prices) == pytest.approx(0.0042)
    gpt = catalog.lookup("gpt-4o").prices
    assert gpt is not None and gpt.cache_read == 0.5 and gpt.input == 2.5  # the rest stays the catalog's
    with pytest.raises(ValueError, match="give both input_price and output_price"):
        ModelCatalog({"mystery": {"input_price": 1}}).lookup("mystery")


def test_the_config_file_takes_prices_and_cache_settings(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        'cache_ttl = "1h"\nprompt_caching = true\n'
        "[providers.custom]\nprompt_cache_key = true\n"
        '[models."qwen3-coder"]\ninput_price = 0.3\noutput_price = 1.2\ncache_read_price = 0.03\n'
    )
    settings = resolve_settings(read_config(path))
    assert settings.cache_ttl == "1h" and settings.prompt_caching is True
    assert settings.provider_overrides["custom"]["prompt_cache_key"] is True
    prices = ModelCatalog(settings.model_overrides).lookup("qwen3-coder").prices
    assert prices is not None and (prices.input, prices.output, prices.cache_read) == (0.3, 1.2, 0.03)
    path.write_text('[models."qwen3-coder"]\ninput_price = -1\n')
    with pytest.raises(ConfigError, match=r"models\.qwen3-coder\.input_price must be a number of dollars"):
        read_config(path)
    path.write_text('cache_ttl = "10m"\n')
    with pytest.raises(ConfigError, match='cache_ttl must be one of "5m", "1h"'):
        read_config(path)


def test_cache_hit_share() -> None:
    assert cache_hit_share(Usage(10, 1, 90, 0)) == pytest.approx(0.9)
    assert cache_hit_share(Usage(None, 1)) is None


# -- recovery waste -------------------------------------------------------------------


NOTHING = Usage()


def snapshot(*parts: TextPart | ThinkingPart, usage: Usage = NOTHING, cut: int = 0) -> ResponseSnapshot:
    cut_call = CutToolCall("write_file", "a.txt", cut) if cut else None
    return ResponseSnapshot(tuple(parts), "failed", None, usage, cut_call)


def test_a_failed_attempt_wastes_what_it_throws_away_and_its_prompt() -> None:
    # 40 chars of text (kept), 80 of thinking and 120 of a cut call (thrown): 240 chars,
    # 60 tokens estimated, 200/240 of them thrown = 50; the prompt it reported at its start.
    snap = snapshot(TextPart("t" * 40), ThinkingPart("h" * 80), usage=Usage(10, 1, 900, 90), cut=120)
    assert failed_attempt_waste(snap, Usage(5)) == Waste(10, 900, 90, 50, estimated=True)


def test_an_attempt_that_never_started_costs_nothing() -> None:
    assert failed_attempt_waste(snapshot(), Usage(1_000)).empty  # an HTTP error before any byte


def test_an_unreported_prompt_is_estimated_from_the_other_attempts() -> None:
    # The chat wire reports usage only at the end: the failed attempt's prompt is taken
    # from the attempt that succeeded (one of two requests).
    failed = [snapshot(TextPart("kept text"))]
    waste = recovery_waste(failed, Usage(100, 50, 2_000, 0), 2, estimated_prompt=999)
    assert (waste.input_tokens, waste.cache_read_tokens, waste.output_tokens) == (100, 2_000, 0)
    assert waste.estimated
    alone = recovery_waste(failed, Usage(), 1, estimated_prompt=999)
    assert alone.prompt_tokens == 999 and alone.estimated
    assert recovery_waste([], Usage(1, 1), 1, 5).empty


def test_a_dropped_reply_is_waste_in_whole_or_its_cut_call() -> None:
    usage = Usage(5, 300, 1_000, 20)
    assert discarded_reply_waste(usage, [TextPart("x")], 10, asked_again=True) == Waste(5, 1_000, 20, 300)
    # text kept: 100 chars of text and 300 of the cut call; 300 x 300/400 = 225 thrown
    kept = discarded_reply_waste(usage, [TextPart("x" * 100)], 300, asked_again=False)
    assert kept == Waste(output_tokens=225)


def test_spend_prices_each_call_at_its_own_model() -> None:
    catalog = ModelCatalog()
    sonnet, gpt = catalog.lookup("claude-sonnet-4-6").prices, catalog.lookup("gpt-4o").prices
    spend = Spend().add_call(Usage(1_000, 100), Waste(), sonnet, "claude-sonnet-4-6")
    spend = spend.add_call(Usage(1_000, 100), Waste(output_tokens=100), gpt, "gpt-4o")
    # 1,000 x 3 + 100 x 15 = 4,500; 1,000 x 2.50 + 100 x 10 = 3,500; waste 100 x 10 = 1,000
    assert spend.cost.total == pytest.approx(0.008)
    assert spend.waste_dict()["cost_usd"] == pytest.approx(0.001)
    unknown = spend + Spend().add_call(Usage(10, 1), Waste(output_tokens=3), None, "qwen3-coder")
    assert unknown.cost.total is None and unknown.waste_dict()["cost_usd"] is None
    assert unknown.waste.output_tokens == 103
