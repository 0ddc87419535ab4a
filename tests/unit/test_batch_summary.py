"""What a batch reports: the trajectory in OpenAI chat format, failure causes, the summary."""

from __future__ import annotations

from agent.batch.causes import failure_cause
from agent.batch.run import BatchPlan
from agent.batch.summary import cost_of, format_summary, percentile, summarize
from agent.batch.tasks import BadLine, Task
from agent.batch.trajectory import to_openai_chat
from agent.messages import Message, TextPart, ThinkingPart, ToolCallPart, ToolResultPart, user_message


def test_a_tool_loop_in_openai_chat_format() -> None:
    history = [
        user_message("list and read"),
        Message(
            "assistant",
            [
                ThinkingPart("first look", signature="sig"),
                TextPart("Looking."),
                ToolCallPart("c1", "list_dir", {"path": "."}),
                ToolCallPart("c2", "read_file", {"path": "é.txt"}),
            ],
        ),
        Message("tool", [ToolResultPart("c1", "a.txt"), ToolResultPart("c2", "Error: no such file", is_error=True)]),
        Message("assistant", [ToolCallPart("c3", "write_file", {"path": "b", "content": "x"})]),
        Message("tool", [ToolResultPart("c3", "wrote 1 character")]),
        Message("assistant", [TextPart("Done.")]),
    ]
    assert to_openai_chat(history, "SYSTEM") == [
        {"role": "system", "content": "SYSTEM"},
        {"role": "user", "content": "list and read"},
        {
            "role": "assistant",
            "content": "Looking.",
            "reasoning_content": "first look",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "list_dir", "arguments": '{"path": "."}'}},
                {"id": "c2", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "é.txt"}'}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "a.txt"},
        {"role": "tool", "tool_call_id": "c2", "content": "Error: no such file"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c3",
                    "type": "function",
                    "function": {"name": "write_file", "arguments": '{"path": "b", "content": "x"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c3", "content": "wrote 1 character"},
        {"role": "assistant", "content": "Done."},
    ]
    assert to_openai_chat([], None) == []


def test_failure_causes_come_from_the_agents_messages() -> None:
    assert failure_cause("completed", None) is None
    assert failure_cause("interrupted", "interrupted by the user") == "interrupted"
    cases = {
        "the provider sent nothing for 180 s, three times (m via p).": "stalled",
        "m via p is overloaded or rate-limited after 3 attempts (HTTP 429: slow down).": "rate_limited",
        "anthropic refused the credentials (HTTP 401).": "auth",
        "stopped after 90 model calls in one turn (the iteration cap); the work so far is kept.": "iteration_cap",
        "every provider in the fallback chain failed (a: the provider sent nothing for 9 s)": "fallbacks_exhausted",
        "something new": "other",
        "": "other",
    }
    for error, cause in cases.items():
        assert failure_cause("failed", error) == cause, error


def test_percentiles_are_nearest_rank() -> None:
    values = sorted(float(v) for v in range(1, 101))
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.95) == 95.0
    assert percentile([3.0], 0.95) == 3.0
    assert percentile([], 0.5) is None


def test_costs_are_numbers_or_cost_objects_and_unknown_stays_unknown() -> None:
    assert cost_of({"cost_usd": 0.25}) == 0.25
    assert cost_of({"cost_usd": None}) is None
    assert cost_of({"cost": 0.25}) == 0.25
    assert cost_of({"cost": {"total": 1.5, "input": 1.0}}) == 1.5
    assert cost_of({"cost": None}) is None
    assert cost_of({"cost": "unknown"}) is None
    assert cost_of({}) is None


def _record(task: str, status: str, seconds: float, **extra: object) -> dict[str, object]:
    record: dict[str, object] = {"id": task, "status": status, "wall_time": seconds, "api_calls": 2}
    record["usage"] = {"input_tokens": 100, "output_tokens": 10}
    record.update(extra)
    return record


def test_the_summary_counts_groups_and_adds_up() -> None:
    tasks = [Task(f"t{i}", "x") for i in range(6)]
    plan = BatchPlan(tasks[1:], [tasks[0]], [BadLine(9, "not valid JSON")])
    records = [
        _record("t1", "completed", 1.0, cost_usd=0.5),
        _record("t2", "completed", 2.0, cost={"total": 0.25}),
        _record("t3", "failed", 9.0, cause="rate_limited"),
        _record("t4", "interrupted", 3.0, cause="interrupted"),
    ]
    summary = summarize(records, plan, elapsed=75.0)
    assert summary.statuses == {"completed": 2, "failed": 1, "interrupted": 1}
    assert summary.causes == {"rate_limited": 1, "interrupted": 1}
    assert summary.usage == {"input_tokens": 400, "output_tokens": 40}
    assert summary.cost == 0.75 and summary.cost_unknown == 2
    assert (summary.skipped, summary.not_started, summary.bad_lines) == (1, 1, 1)
    assert not summary.all_completed
    text = format_summary(summary, "results.jsonl")
    assert "batch: 4 tasks run in 1 min 15 s: completed 2 · failed 1 · interrupted 1" in text
    assert "1 already done (skipped); 1 not started (stopped); 1 bad task lines (not run)" in text
    assert "not completed, by cause: interrupted 1, rate_limited 1" in text
    assert "tokens: input 400 · output 40; cost: $0.7500 (+ 2 tasks of unknown cost)" in text
    assert "task time: p50 2.0 s · p95 9.0 s" in text
    assert "results.jsonl is resumable" in text


def test_a_clean_run_says_so() -> None:
    plan = BatchPlan([Task("a", "x")])
    summary = summarize([_record("a", "completed", 1.0)], plan, elapsed=1.0)
    assert summary.all_completed
    text = format_summary(summary, "r.jsonl")
    assert "cost: not reported" in text and "resumable" not in text and "by cause" not in text


def test_plain_progress_is_one_clean_line_per_task() -> None:
    import io

    from agent.batch.job import TaskResult
    from agent.batch.progress import PlainProgress, RichProgress

    err = io.StringIO()
    progress = PlainProgress(err)
    progress.batch_started(BatchPlan([Task("a", "x"), Task("b", "x")], [Task("c", "x")], [BadLine(4, "no id")]))
    progress.task_started(Task("a", "x"))
    progress.task_finished(TaskResult.from_record(_record("a", "completed", 1.0, api_calls=1)))
    evil = "HTTP 500\x1b]52;c;aGk=\x07 \x1b[2Kgone\nsecond line"
    progress.task_finished(TaskResult.from_record(_record("b\x1b[31m", "failed", 2.5, cause="other", error=evil)))
    lines = err.getvalue().splitlines()
    assert lines[:3] == [
        "batch: 2 tasks to run, 1 already done",
        "batch: bad task line 4: no id",
        "[1/2] ✓ a completed in 1.0 s, 1 model call",
    ]
    assert len(lines) == 4 and lines[3].startswith("[2/2] ✗ b")  # one line, whatever the error held
    assert "failed in 2.5 s, 2 model calls (other): HTTP 500" in lines[3] and lines[3].endswith("second line")
    assert not any(ch in err.getvalue() for ch in "\x1b\x07")

    screen = io.StringIO()  # not a terminal: rich draws the final state only, and never fails
    rich = RichProgress(screen)
    rich.batch_started(BatchPlan([Task("a", "x")]))
    rich.task_started(Task("a", "x"))
    rich.task_finished(TaskResult.from_record(_record("a", "failed", 1.0, cause="auth", error="bad key")))
    rich.close()
    assert "✗ a failed" in screen.getvalue() and "1/1" in screen.getvalue()
