"""The compaction planner and the context state: where the cut is, what the summary
request carries, the new history, and rebuilding the working history from the full one
(resume) or from before a turn (undo)."""

from __future__ import annotations

import pytest

from agent.context.compaction import (
    SUMMARY_REQUEST_MARK,
    apply_compaction,
    drop_points,
    plan_compaction,
    summary_request,
)
from agent.context.state import SUMMARY_MARK, CompactionRecord, ContextState, head_length, working_history
from agent.context.tokens import messages_tokens
from agent.context.trimming import plan_trim
from agent.messages import Message, TextPart, ToolCallPart, ToolResultPart, user_message
from tests.context_helpers import pairs_intact, task_history, tool_round


def test_the_cut_keeps_the_head_and_recent_messages_within_the_budget() -> None:
    history = task_history(20, output_chars=2_000)
    plan = plan_compaction(history, ContextState(), keep_tokens=3_000)
    assert plan is not None
    assert plan.head == 1 and plan.prefix == 1 and plan.previous is None
    assert history[plan.cut].role == "assistant"  # never in front of a tool result
    assert messages_tokens(plan.recent(history)) <= 3_000
    assert messages_tokens(history[plan.cut - 2 :]) > 3_000  # and as much as fits
    new = apply_compaction(history, ContextState(), plan, "## Goal and constraints\nall parts").messages
    assert new[0] is history[0] and new[1].text.startswith(SUMMARY_MARK) and "all parts" in new[1].text
    assert new[2:] == history[plan.cut :] and pairs_intact(new)


def test_the_round_in_progress_is_kept_whole_even_over_the_budget() -> None:
    history = task_history(6, output_chars=1_000) + tool_round(7, output_chars=20_000)
    plan = plan_compaction(history, ContextState(), keep_tokens=2_000)
    assert plan is not None and plan.cut == len(history) - 2
    assert plan.recent(history)[0].tool_calls[0].call_id == "call_7"


@pytest.mark.parametrize(
    "history",
    [
        [user_message("only the question")],
        [user_message("go"), *tool_round(1)],  # just the round in progress
        [Message("assistant", [TextPart("no user yet")])],
    ],
)
def test_nothing_to_summarise(history: list[Message]) -> None:
    assert plan_compaction(history, ContextState(), keep_tokens=10) is None


def test_a_cut_never_separates_parallel_calls_from_their_results() -> None:
    history = [user_message("go")]
    for n in range(1, 8):
        calls = [ToolCallPart(f"a{n}", "read_file", {"path": "a"}), ToolCallPart(f"b{n}", "read_file", {"path": "b"})]
        history.append(Message("assistant", calls))
        history.append(Message("tool", [ToolResultPart(f"a{n}", "A" * 900), ToolResultPart(f"b{n}", "B" * 900)]))
        history.append(user_message(f"[stayline: a note from the agent runtime, not from the user] note {n}"))
    for keep in (100, 700, 1_500, 3_000):
        plan = plan_compaction(history, ContextState(), keep_tokens=keep)
        assert plan is not None
        assert pairs_intact(apply_compaction(history, ContextState(), plan, "s").messages)


def test_the_summary_request_carries_the_older_history_and_asks_for_the_sections() -> None:
    history = task_history(12, output_chars=1_500)
    plan = plan_compaction(history, ContextState(), keep_tokens=2_000)
    assert plan is not None
    messages = summary_request(history, plan, focus="the failing test")
    assert messages[: plan.cut] == history[: plan.cut]  # same start as the requests before: cache hits
    ask = messages[-1].text
    assert messages[-1].role == "user" and ask.startswith(SUMMARY_REQUEST_MARK)
    for section in ("Goal and constraints", "Decisions", "Files", "Tried and failed", "Next steps"):
        assert section in ask
    assert "the failing test" in ask and "Update it" not in ask


def test_a_later_compaction_updates_the_earlier_summary() -> None:
    full = task_history(12, output_chars=1_500)
    first_plan = plan_compaction(full, ContextState(), keep_tokens=2_000)
    assert first_plan is not None
    first = apply_compaction(full, ContextState(), first_plan, "first summary")
    working = list(first.messages)
    for n in range(13, 25):
        round_ = tool_round(n, 1_500)
        working.extend(round_)
        full.extend(round_)
    plan = plan_compaction(working, first.state, keep_tokens=2_000)
    assert plan is not None and plan.previous == "first summary" and plan.prefix == 2
    messages = summary_request(working, plan)
    assert messages[1].text.startswith(SUMMARY_MARK) and "first summary" in messages[1].text
    assert "Update it" in messages[-1].text
    second = apply_compaction(working, first.state, plan, "second summary")
    assert [m.text for m in second.messages[:2]] == [full[0].text, second.messages[1].text]
    assert "second summary" in second.messages[1].text and "first summary" not in second.messages[1].text
    assert second.record.number == 2 and second.record.at == len(full)
    # the working history follows from the full history and the state alone (resume)
    assert working_history(full, second.state) == second.messages


def test_working_history_with_trims_and_compactions_rebuilds_exactly() -> None:
    full = task_history(10, output_chars=3_000)
    state = ContextState()
    working = list(full)
    trim = plan_trim(working, keep_rounds=3, min_tokens=200)
    assert trim is not None
    working, state = trim.messages, state.with_stubs(trim.stubbed, len(full))
    plan = plan_compaction(working, state, keep_tokens=4_000)
    assert plan is not None
    done = apply_compaction(working, state, plan, "summary")
    working, state = list(done.messages), done.state
    for n in range(11, 16):
        round_ = tool_round(n, 3_000)
        working.extend(round_)
        full.extend(round_)
    trim = plan_trim(working, keep_rounds=3, min_tokens=200)
    assert trim is not None
    working, state = trim.messages, state.with_stubs(trim.stubbed, len(full))
    rebuilt = working_history(full, ContextState.from_dict(state.to_dict()))
    assert [m.to_dict() for m in rebuilt] == [m.to_dict() for m in working]


def test_undo_forgets_what_the_undone_turn_did() -> None:
    full = task_history(10, output_chars=2_000)
    before_turn = len(full)
    full.append(user_message("now the second task"))
    for n in range(11, 20):
        full.extend(tool_round(n, 2_000))
    plan = plan_compaction(full, ContextState(), keep_tokens=2_000)
    assert plan is not None
    state = apply_compaction(full, ContextState(), plan, "summary").state
    state = state.with_stubs(["call_1"], len(full))
    undone = state.undone(before_turn)
    assert undone.compactions == () and undone.stubbed == {}
    assert working_history(full[:before_turn], undone) == full[:before_turn]


def test_undo_keeps_compactions_made_before_the_undone_turn() -> None:
    full = task_history(12, output_chars=2_000)
    plan = plan_compaction(full, ContextState(), keep_tokens=2_000)
    assert plan is not None
    state = apply_compaction(full, ContextState(), plan, "kept summary").state
    before_turn = len(full)
    full = [*full, user_message("next"), *tool_round(13)]
    working = working_history(full[:before_turn], state.undone(before_turn))
    assert "kept summary" in working[1].text and working[-1] is full[before_turn - 1]


def test_drop_points_leave_out_the_oldest_part_at_clean_cuts() -> None:
    history = task_history(8, output_chars=1_000)
    plan = plan_compaction(history, ContextState(), keep_tokens=1_000)
    assert plan is not None
    drops = drop_points(history, plan)
    assert drops and drops == sorted(drops)
    for dropped in drops:
        messages = summary_request(history, plan, dropped=dropped)
        assert pairs_intact(messages) and messages[0] is history[0]
        assert f"{dropped:,} oldest messages" in messages[-1].text


def test_state_round_trip_and_broken_records() -> None:
    record = CompactionRecord(1, "s", 1, 9, 12)
    state = ContextState((record,), {"call_1": 4})
    assert ContextState.from_dict(state.to_dict()) == state
    with pytest.raises(ValueError):
        CompactionRecord.from_dict({"number": 1, "summary": "s", "head": 5, "covered": 2, "at": 9})
    # a record that does not fit the stored history is ignored, never a crash
    short = task_history(2)
    assert [m.to_dict() for m in working_history(short, ContextState((record,)))] == [m.to_dict() for m in short]


def test_head_is_the_first_user_message_not_a_runtime_note() -> None:
    note = user_message("[stayline: a note] hi")
    assert head_length([note, user_message("real"), *tool_round(1)]) == 2
    assert head_length([]) == 0
