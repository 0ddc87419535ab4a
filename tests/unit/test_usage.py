"""Usage: one neutral split for both wires; unknown stays unknown."""

from __future__ import annotations

from agent.providers.anthropic_messages import usage_chunk as anthropic_usage
from agent.providers.chat_completions import usage_chunk as chat_usage
from agent.usage import Usage


def test_unknown_figures_stay_unknown_and_sums_keep_what_is_known() -> None:
    assert Usage().to_dict() == dict.fromkeys(
        ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "prompt_tokens")
    )
    assert not Usage().reported
    total = Usage() + Usage(10, 2) + Usage()
    assert (total.input_tokens, total.output_tokens, total.prompt_tokens) == (10, 2, 10)


def test_prompt_tokens_is_the_whole_prompt() -> None:
    assert Usage(5, 1, cache_read_tokens=90, cache_write_tokens=5).prompt_tokens == 100


def test_merged_takes_the_later_figures_it_reports() -> None:
    start = Usage(100, 1, 0, 0)
    assert start.merged(Usage(None, 42)) == Usage(100, 42, 0, 0)


def test_chat_completions_prompt_tokens_are_split_into_the_cached_part() -> None:
    chunk = chat_usage({"prompt_tokens": 1000, "completion_tokens": 7, "prompt_tokens_details": {"cached_tokens": 900}})
    assert (chunk.input_tokens, chunk.cache_read_tokens, chunk.cache_write_tokens) == (100, 900, None)
    assert chat_usage({"completion_tokens": 3}).input_tokens is None


def test_anthropic_usage_reads_cache_fields() -> None:
    chunk = anthropic_usage(
        {"input_tokens": 3, "cache_read_input_tokens": 800, "cache_creation_input_tokens": 40, "output_tokens": 1}
    )
    assert (chunk.input_tokens, chunk.cache_read_tokens, chunk.cache_write_tokens) == (3, 800, 40)
