"""Tool-output trimming: which results become stubs, what a stub says, and that the
stubbed prefix only changes when trimming advances."""

from __future__ import annotations

import json

from agent.context.trimming import STUB_MARK, apply_stubs, is_stub, plan_trim, stub_boundary, stub_text, tool_rounds
from agent.messages import Message, TextPart, ToolCallPart, ToolResultPart, user_message
from tests.context_helpers import pairs_intact, task_history, tool_round


def _results(history: list[Message]) -> dict[str, str]:
    return {r.call_id: r.content for m in history for r in m.tool_results}


def test_old_large_results_become_stubs_and_the_last_rounds_stay_whole() -> None:
    history = task_history(8, output_chars=4_000)
    plan = plan_trim(history, keep_rounds=5, min_tokens=200)
    assert plan is not None
    assert plan.stubbed == ("call_1", "call_2", "call_3")
    results = _results(plan.messages)
    assert all(is_stub(results[f"call_{n}"]) for n in (1, 2, 3))
    assert all(results[f"call_{n}"] == _results(history)[f"call_{n}"] for n in range(4, 9))
    assert plan.saved_tokens > 2_500
    assert plan.messages[0] is history[0]  # the first user message stays
    assert len(plan.messages) == len(history) and pairs_intact(plan.messages)
    assert all(is_stub(r.content) is False for r in history[2].tool_results)  # the input is not changed


def test_small_results_are_left_alone() -> None:
    history = task_history(8, output_chars=300)
    assert plan_trim(history, keep_rounds=5, min_tokens=200) is None


def test_keep_zero_stubs_the_round_in_progress_too() -> None:
    history = task_history(2, output_chars=4_000)
    plan = plan_trim(history, keep_rounds=0, min_tokens=200)
    assert plan is not None and plan.stubbed == ("call_1", "call_2")


def test_a_stub_names_the_tool_the_target_and_how_to_get_it_again() -> None:
    call = ToolCallPart("c1", "read_file", {"path": "src/app.py"})
    text = stub_text(call, ToolResultPart("c1", "x" * 12_345))
    assert text.startswith(STUB_MARK)
    assert "read_file src/app.py" in text and "12,345 characters" in text and "read the file again" in text
    command = stub_text(ToolCallPart("c2", "terminal", {"command": "pytest -q\n  tests"}), ToolResultPart("c2", "ok"))
    assert "terminal pytest -q tests" in command and "run the command again" in command
    other = stub_text(ToolCallPart("c3", "fetch_page", {"url": "x"}), ToolResultPart("c3", "boom", is_error=True))
    assert "an error of 4 characters" in other and "call fetch_page again with the same arguments" in other
    assert "\n" not in command


def test_trimming_twice_changes_nothing_and_error_flags_survive() -> None:
    history = [user_message("go")]
    history.append(Message("assistant", [ToolCallPart("e1", "terminal", {"command": "make"})]))
    history.append(Message("tool", [ToolResultPart("e1", "error: " * 500, is_error=True)]))
    for n in range(2, 8):
        history.extend(tool_round(n, 3_000))
    plan = plan_trim(history, keep_rounds=5, min_tokens=200)
    assert plan is not None
    assert plan.messages[2].tool_results[0].is_error
    assert plan_trim(plan.messages, keep_rounds=5, min_tokens=200) is None


def test_the_stubbed_prefix_only_changes_when_trimming_advances() -> None:
    history = task_history(10, output_chars=3_000)
    first = plan_trim(history, keep_rounds=5, min_tokens=200)
    assert first is not None
    sent_then = [json.dumps(m.to_dict()) for m in first.messages]
    grown = first.messages + tool_round(11, 3_000) + tool_round(12, 3_000)
    # Requests in between send the trimmed history plus new messages: its bytes are a prefix.
    assert [json.dumps(m.to_dict()) for m in grown[: len(sent_then)]] == sent_then
    second = plan_trim(grown, keep_rounds=5, min_tokens=200)
    assert second is not None and second.stubbed == ("call_6", "call_7")
    # Advancing changes only results after the earlier stubs: everything before call_6 stays.
    unchanged = [json.dumps(m.to_dict()) for m in second.messages]
    first_changed = next(i for i, (a, b) in enumerate(zip(unchanged, sent_then, strict=False)) if a != b)
    assert history[first_changed - 1].tool_calls[0].call_id == "call_6"


def test_stubs_rebuilt_from_the_full_history_are_the_same_bytes() -> None:
    history = task_history(9, output_chars=2_500)
    plan = plan_trim(history, keep_rounds=3, min_tokens=100)
    assert plan is not None
    rebuilt = apply_stubs(history, set(plan.stubbed))
    assert [m.to_dict() for m in rebuilt] == [m.to_dict() for m in plan.messages]
    assert apply_stubs(history, set()) == history


def test_tool_rounds_keep_calls_with_their_results() -> None:
    history = task_history(3)
    history.append(Message("assistant", [TextPart("done")]))
    rounds = tool_rounds(history)
    assert [(r.call_index, r.result_indexes) for r in rounds] == [(1, (2,)), (3, (4,)), (5, (6,))]


def test_the_stub_boundary_of_each_trim_is_where_the_next_trim_leaves_the_bytes_alone() -> None:
    history = task_history(10, output_chars=3_000)
    first = plan_trim(history, keep_rounds=5, min_tokens=200)
    assert first is not None
    stubbed = dict.fromkeys(first.stubbed, 1)  # call id -> the trim that stubbed it
    grown = first.messages + tool_round(11, 3_000) + tool_round(12, 3_000)
    second = plan_trim(grown, keep_rounds=5, min_tokens=200)
    assert second is not None
    stubbed.update(dict.fromkeys(second.stubbed, 2))
    earlier = stub_boundary(second.messages, stubbed, up_to=1)
    newest = stub_boundary(second.messages, stubbed)
    assert earlier is not None and newest is not None and earlier < newest
    assert second.messages[earlier].tool_results[0].call_id == first.stubbed[-1]
    assert second.messages[newest].tool_results[0].call_id == second.stubbed[-1]
    # Everything up to the earlier boundary is what the requests before the second trim sent.
    assert [m.to_dict() for m in second.messages[: earlier + 1]] == [m.to_dict() for m in grown[: earlier + 1]]
    assert stub_boundary(history, stubbed) is None  # no stub in it: nothing is stable yet
