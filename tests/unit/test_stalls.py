"""The stall ledger: retry, then guide, then give up; counts survive turns and sessions."""

from __future__ import annotations

import json

import pytest

from agent.recovery.stalls import StallKey, StallLedger
from agent.streaming.accumulator import CutToolCall


def cut(chars: int = 12_345, target: str | None = "big.txt", name: str = "write_file") -> CutToolCall:
    return CutToolCall(name=name, target=target, chars_received=chars)


def test_first_cut_retries() -> None:
    verdict = StallLedger().record_cut(cut(), "stall")
    assert verdict.action == "retry"
    assert verdict.key == StallKey("write_file", "big.txt")
    assert verdict.consecutive == 1
    assert verdict.text == ""


def test_second_consecutive_cut_guides_with_concrete_way_out() -> None:
    ledger = StallLedger()
    ledger.record_cut(cut(10_000), "stall")
    verdict = ledger.record_cut(cut(12_345), "stall")
    assert verdict.action == "guide"
    text = verdict.text
    for expected in ("write_file", "'big.txt'", "12,345", "8,000", 'mode "append"', "patch", "stalled"):
        assert expected in text, expected
    assert "nothing was written" in text


def test_other_target_counts_separately() -> None:
    ledger = StallLedger()
    assert ledger.record_cut(cut(target="a.txt"), "stall").action == "retry"
    assert ledger.record_cut(cut(target="b.txt"), "stall").action == "retry"
    assert ledger.record_cut(cut(target="a.txt", name="patch"), "stall").action == "retry"
    assert ledger.consecutive("write_file", "a.txt") == 1
    assert ledger.record_cut(cut(target="a.txt"), "stall").action == "guide"


def test_success_resets_the_count_but_remembers_guidance() -> None:
    ledger = StallLedger()
    ledger.record_cut(cut(), "stall")
    ledger.record_cut(cut(), "stall")
    ledger.record_success("write_file", "big.txt")
    assert ledger.consecutive("write_file", "big.txt") == 0
    assert ledger.pending_guidance() is None
    assert ledger.record_cut(cut(), "stall").action == "retry"
    # The fact that guidance was given survives: the give-up text says so.
    ledger.record_cut(cut(), "stall")
    ledger.record_cut(cut(), "stall")
    verdict = ledger.record_cut(cut(), "stall")
    assert verdict.action == "give_up"
    assert "even after guidance" in verdict.text
    assert "1 call to write_file for 'big.txt' completed earlier" in verdict.text


def test_success_of_an_unknown_key_is_ignored() -> None:
    ledger = StallLedger()
    ledger.record_success("read_file", "x.py")
    assert ledger.to_dict()["entries"] == []


def test_guidance_is_bounded_per_turn_then_gives_up() -> None:
    ledger = StallLedger()
    actions = [ledger.record_cut(cut(), "stall").action for _ in range(5)]
    assert actions == ["retry", "guide", "guide", "give_up", "give_up"]
    verdict = ledger.record_cut(cut(), "stall")
    text = verdict.text
    assert "write_file for 'big.txt'" in text
    assert "6 times even after guidance" in text
    assert "nothing was written" in text.lower()
    assert "smaller pieces" in text
    assert "fallback model" in text
    assert "--stale-timeout" in text
    assert "--max-tokens" not in text


def test_guidance_budget_is_shared_by_keys_within_a_turn() -> None:
    ledger = StallLedger(max_guidance_per_turn=1)
    ledger.record_cut(cut(target="a.txt"), "stall")
    assert ledger.record_cut(cut(target="a.txt"), "stall").action == "guide"
    ledger.record_cut(cut(target="b.txt"), "stall")
    assert ledger.record_cut(cut(target="b.txt"), "stall").action == "give_up"


def test_start_turn_restores_the_budget_but_not_the_counts() -> None:
    ledger = StallLedger()
    for _ in range(4):
        ledger.record_cut(cut(), "stall")
    ledger.start_turn()
    verdict = ledger.record_cut(cut(), "stall")
    assert verdict.action == "guide"
    assert verdict.consecutive == 5
    assert "The last 5 attempts" in verdict.text


def test_pending_guidance_across_turns() -> None:
    ledger = StallLedger()
    ledger.record_cut(cut(), "stall")
    assert ledger.pending_guidance() is None
    ledger.record_cut(cut(20_000), "stall")
    ledger.start_turn()
    pending = ledger.pending_guidance()
    assert pending is not None
    assert "write_file for 'big.txt'" in pending
    assert "20,000" in pending
    assert 'mode "append"' in pending
    # Giving it up front does not spend the turn's budget.
    assert ledger.record_cut(cut(), "stall").action == "guide"
    ledger.record_success("write_file", "big.txt")
    assert ledger.pending_guidance() is None


def test_pending_guidance_lists_every_stalled_key() -> None:
    ledger = StallLedger(threshold=1)
    ledger.record_cut(cut(target="a.txt"), "stall")
    ledger.record_cut(cut(target="b.txt"), "drop")
    pending = ledger.pending_guidance()
    assert pending is not None
    assert "'a.txt'" in pending and "'b.txt'" in pending
    assert ledger.stalled_keys() == [StallKey("write_file", "a.txt"), StallKey("write_file", "b.txt")]


def test_round_trip_through_json() -> None:
    ledger = StallLedger(threshold=3, max_guidance_per_turn=1, chunk_chars=4000)
    ledger.record_cut(cut(target=None, name="terminal"), "drop")
    for _ in range(3):
        ledger.record_cut(cut(9_000), "output_limit")
    ledger.record_success("patch", "other.py")
    data = json.loads(json.dumps(ledger.to_dict()))
    restored = StallLedger.from_dict(data)
    assert restored.to_dict() == ledger.to_dict()
    assert restored.threshold == 3
    assert restored.chunk_chars == 4000
    assert restored.consecutive("terminal", None) == 1
    assert restored.pending_guidance() == ledger.pending_guidance()
    # The budget was spent in the saved turn: still spent until the next turn starts.
    assert restored.record_cut(cut(), "stall").action == "give_up"
    restored.start_turn()
    assert restored.record_cut(cut(), "stall").action == "guide"


def test_from_dict_tolerates_an_unknown_cause() -> None:
    data = StallLedger().to_dict()
    data["entries"] = [{"tool": "write_file", "target": "x", "consecutive": 2, "last_cause": "future"}]
    restored = StallLedger.from_dict(data)
    assert "stalled" in (restored.pending_guidance() or "")


def test_output_limit_cuts_count_the_same() -> None:
    ledger = StallLedger()
    assert ledger.record_cut(cut(), "output_limit").action == "retry"
    verdict = ledger.record_cut(cut(), "output_limit")
    assert verdict.action == "guide"
    assert "output limit" in verdict.text
    assert 'mode "append"' in verdict.text
    # Mixed causes share one count.
    ledger.record_cut(cut(), "stall")
    verdict = ledger.record_cut(cut(), "output_limit")
    assert verdict.action == "give_up"
    assert "--max-tokens" in verdict.text
    assert "--stale-timeout" in verdict.text


def test_target_none_works() -> None:
    ledger = StallLedger()
    ledger.record_cut(cut(target=None), "stall")
    verdict = ledger.record_cut(cut(target=None), "stall")
    assert verdict.action == "guide"
    assert verdict.key == StallKey("write_file", None)
    assert "call write_file stalled" in verdict.text
    assert "None" not in verdict.text
    ledger.record_success("write_file", None)
    assert ledger.consecutive("write_file", None) == 0


def test_piece_size_shrinks_when_the_call_broke_below_it() -> None:
    ledger = StallLedger()
    ledger.record_cut(cut(6_200), "stall")
    verdict = ledger.record_cut(cut(6_000), "stall")
    assert "at most 3,000 characters" in verdict.text
    assert ledger.chunk_size_for(500) == 8000
    assert ledger.chunk_size_for(2_100) == 1000
    assert ledger.chunk_size_for(50_000) == 8000


def test_threshold_is_configurable() -> None:
    ledger = StallLedger(threshold=3)
    actions = [ledger.record_cut(cut(), "stall").action for _ in range(3)]
    assert actions == ["retry", "retry", "guide"]


@pytest.mark.parametrize(
    "kwargs", [{"threshold": 0}, {"max_guidance_per_turn": -1}, {"chunk_chars": 0}], ids=lambda k: next(iter(k))
)
def test_rejects_bad_settings(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        StallLedger(**kwargs)
