"""The stream trace file: lines, summaries, secrets and durability, with a fake clock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from agent.providers.base import ErrorFacts
from agent.providers.deltas import (
    BlockEnd,
    Delta,
    KeepAlive,
    StopChunk,
    StreamEnd,
    TextChunk,
    ThinkingChunk,
    ToolArgsChunk,
    ToolCallBegin,
    UsageChunk,
)
from agent.streaming.accumulator import Accumulator
from agent.streaming.attempt import AttemptResult
from agent.trace import TraceWriter

ROOT = Path(__file__).resolve().parents[2]


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def of_kind(lines: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [line for line in lines if line["kind"] == kind]


def result_of(deltas: list[Delta], *, error: ErrorFacts | None = None, interrupted: bool = False) -> AttemptResult:
    accumulator = Accumulator("anthropic")
    for delta in deltas:
        accumulator.apply(delta)
    snapshot = accumulator.snapshot(failed=error is not None, interrupted=interrupted)
    return AttemptResult(snapshot, error, interrupted=interrupted)


def feed(trace: TraceWriter, clock: FakeClock, deltas: list[Delta], every: float) -> None:
    for delta in deltas:
        clock.advance(every)
        trace.delta(delta)


COMPLETE = [
    TextChunk("héllo"),
    BlockEnd(),
    ToolCallBegin(0, "call_1", "write_file"),
    ToolArgsChunk(0, '{"path": "a"}'),
    KeepAlive(),
    StopChunk("tool_calls", "tool_use"),
    UsageChunk(10, 5),
    StreamEnd(),
]


def test_one_line_per_event_with_time_kind_bytes_call_and_attempt(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "t.jsonl"
    with TraceWriter(path, clock=clock) as trace:
        clock.advance(0.5)
        trace.attempt_started(1, 1, "anthropic", "claude-sonnet-4-6")
        feed(trace, clock, COMPLETE, every=0.1234)
        trace.attempt_ended(result_of(COMPLETE))
    lines = read(path)
    kinds = [line["kind"] for line in lines]
    assert kinds == [
        "attempt_start",
        "text",
        "block_end",
        "tool_call",
        "tool_args",
        "keep_alive",
        "stop",
        "usage",
        "end",
        "attempt_end",
        "summary",
        "trace_end",
    ]
    start = lines[0]
    assert start == {
        "t": 0.5,
        "kind": "attempt_start",
        "bytes": 0,
        "call": 1,
        "attempt": 1,
        "provider": "anthropic",
        "model": "claude-sonnet-4-6",
    }
    text, tool_call, args, ping, stop = lines[1], lines[3], lines[4], lines[5], lines[6]
    assert text == {"t": 0.623, "kind": "text", "bytes": 6, "call": 1, "attempt": 1}  # é is two bytes
    assert "héllo" not in path.read_text(encoding="utf-8")  # sizes, never payloads
    assert tool_call["name"] == "write_file" and tool_call["bytes"] == len("call_1write_file")
    assert args["bytes"] == len('{"path": "a"}')
    assert ping["bytes"] == 0
    assert stop["reason"] == "tool_calls" and stop["bytes"] == len("tool_use")
    assert lines[7]["input_tokens"] == 10 and lines[7]["output_tokens"] == 5
    end = lines[9]
    assert end["state"] == "complete" and end["stop_reason"] == "tool_calls"
    assert end["error_kind"] is None and end["interrupted"] is False
    assert end["t"] == lines[10]["t"]


def test_stalled_attempt_summary_says_where_the_time_went(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "t.jsonl"
    with TraceWriter(path, clock=clock) as trace:
        trace.attempt_started(3, 1, "openrouter", "anthropic/claude-opus-4.6")
        clock.advance(0.25)
        trace.delta(KeepAlive())
        clock.advance(0.25)
        trace.delta(TextChunk("a"))  # first progress at 0.5 s
        feed(trace, clock, [TextChunk("b")] * 23, every=0.05)  # up to 1.65 s
        clock.advance(0.35)
        trace.delta(TextChunk("c"))  # 2.0 s
        clock.advance(1.0)
        trace.delta(TextChunk("d"))  # the 26th delta, 3.0 s into the attempt: the longest gap
        feed(trace, clock, [KeepAlive()] * 5, every=25.0)
        facts = ErrorFacts("stale", "the provider sent nothing for 125 s")
        trace.attempt_ended(result_of([TextChunk("ab")], error=facts))
    lines = read(path)
    (end,) = of_kind(lines, "attempt_end")
    assert end["state"] == "failed" and end["error_kind"] == "stale"
    assert end["error_message"] == "the provider sent nothing for 125 s"
    (summary,) = of_kind(lines, "summary")
    assert summary["call"] == 3 and summary["attempt"] == 1
    assert summary["ttfb"] == 0.25  # the keep-alive was the first byte
    assert summary["ttfp"] == 0.5
    assert summary["progress_deltas"] == 26 and summary["keep_alives"] == 6 and summary["deltas"] == 32
    assert summary["longest_gap"] == 1.0  # between progress deltas, not the silence after them
    assert summary["bytes"] == 26
    assert summary["duration"] == 128.0
    assert summary["silence_at_end"] == 125.0
    assert summary["retries"] == 0
    assert summary["sentence"] == "26 deltas in 3.0 s, then 125.0 s of silence (6 keep-alives only)"


def test_a_stall_before_any_progress(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "t.jsonl"
    with TraceWriter(path, clock=clock) as trace:
        trace.attempt_started(1, 1, "anthropic", "m")
        clock.advance(30)
        trace.attempt_ended(result_of([], error=ErrorFacts("stale", "the provider sent nothing for 30 s")))
    (summary,) = of_kind(read(path), "summary")
    assert summary["ttfb"] is None and summary["ttfp"] is None
    assert summary["progress_deltas"] == 0 and summary["longest_gap"] == 0
    assert summary["sentence"] == "no deltas, 30.0 s of silence"


def test_failed_and_interrupted_attempts_are_summarised(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "t.jsonl"
    with TraceWriter(path, clock=clock) as trace:
        trace.attempt_started(1, 1, "openai", "gpt-4o")
        feed(trace, clock, [TextChunk("x")] * 2, every=0.5)
        trace.attempt_ended(result_of([TextChunk("xx")], error=ErrorFacts("http_status", "overloaded", 529, 2.0)))
        trace.attempt_started(1, 2, "openai", "gpt-4o")
        feed(trace, clock, [TextChunk("y")], every=1.0)
        trace.attempt_ended(result_of([TextChunk("y")], interrupted=True))
    lines = read(path)
    first, second = of_kind(lines, "attempt_end")
    assert first["error_kind"] == "http_status" and first["error_status"] == 529 and first["retry_after"] == 2.0
    assert second["interrupted"] is True and second["state"] == "interrupted"
    failed, interrupted = of_kind(lines, "summary")
    assert failed["sentence"] == "2 deltas in 1.0 s, failed (http_status 529)"
    assert interrupted["sentence"] == "1 delta in 1.0 s, interrupted; retry 1 of call 1"


def test_retries_are_counted_per_call(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "t.jsonl"
    stale = ErrorFacts("stale", "nothing")
    with TraceWriter(path, clock=clock) as trace:
        for call, attempt, error in [(1, 1, stale), (1, 2, stale), (1, 3, None), (2, 1, None), (3, 1, None)]:
            trace.attempt_started(call, attempt, "anthropic", "m")
            clock.advance(1)
            trace.delta(TextChunk("z"))
            trace.attempt_ended(result_of([TextChunk("z")], error=error))
        # a continuation restarts the attempt count within the same call: not a retry
        trace.attempt_started(3, 1, "anthropic", "m")
        trace.attempt_ended(result_of([]))
    lines = read(path)
    assert [s["retries"] for s in of_kind(lines, "summary")] == [0, 1, 2, 0, 0, 0]
    assert [(s["call"], s["attempt"]) for s in of_kind(lines, "attempt_start")][:3] == [(1, 1), (1, 2), (1, 3)]
    (closing,) = of_kind(lines, "trace_end")
    assert closing["calls"] == 3 and closing["attempts"] == 6 and closing["retries"] == 2
    assert closing["retries_per_call"] == {"1": 2, "2": 0, "3": 0}


def test_thinking_and_deltas_outside_an_attempt_are_still_written(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "t.jsonl"
    with TraceWriter(path, clock=clock) as trace:
        trace.delta(ThinkingChunk("hmm"))
        trace.attempt_ended(result_of([]))  # no attempt_started: still one end and one summary
    lines = read(path)
    assert lines[0] == {"t": 0.0, "kind": "thinking", "bytes": 3, "call": None, "attempt": None}
    assert [line["kind"] for line in lines] == ["thinking", "attempt_end", "summary", "trace_end"]


def test_no_key_from_the_environment_reaches_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "k-live-9f8e7d6c5b4a39281706"
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret)
    monkeypatch.setenv("STAYLINE_API_KEY", "sk-or-v1-0123456789abcdef")
    path = tmp_path / "t.jsonl"
    with TraceWriter(path, clock=FakeClock()) as trace:
        trace.attempt_started(1, 1, "anthropic", "claude-sonnet-4-6")
        trace.delta(TextChunk("hello"))
        message = f"invalid x-api-key {secret}; Authorization: Bearer abcdefghijklmnop; sk-ant-api03-zzzzzzzzzzzz"
        trace.attempt_ended(result_of([], error=ErrorFacts("http_status", message, 401)))
    content = path.read_text(encoding="utf-8")
    for leaked in (secret, "sk-or-v1-0123456789abcdef", "abcdefghijklmnop", "sk-ant-api03"):
        assert leaked not in content
    (end,) = of_kind(read(path), "attempt_end")
    assert end["error_message"].startswith("invalid x-api-key [redacted]")


def test_every_line_is_on_disk_before_the_next_event(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    trace = TraceWriter(path, clock=FakeClock())
    trace.attempt_started(1, 1, "anthropic", "m")
    assert len(read(path)) == 1
    trace.delta(KeepAlive())
    assert [line["kind"] for line in read(path)] == ["attempt_start", "keep_alive"]
    trace.close()


def test_a_killed_process_keeps_what_it_wrote(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    script = (
        "import sys, time\n"
        "from agent.providers.deltas import TextChunk\n"
        "from agent.trace import TraceWriter\n"
        "trace = TraceWriter(sys.argv[1])\n"
        "trace.attempt_started(1, 1, 'anthropic', 'm')\n"
        "trace.delta(TextChunk('partial'))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert [line["kind"] for line in read(path)] == ["attempt_start", "text"]


def test_close_is_idempotent_and_later_events_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    trace = TraceWriter(path, clock=FakeClock())
    trace.close()
    trace.close()
    trace.delta(TextChunk("late"))
    trace.attempt_ended(result_of([]))
    assert trace.closed
    assert [line["kind"] for line in read(path)] == ["trace_end"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_trace_that_cannot_be_written_never_breaks_the_turn() -> None:
    trace = TraceWriter("/dev/full", clock=FakeClock())
    trace.attempt_started(1, 1, "anthropic", "m")  # ENOSPC: recorded, not raised
    trace.delta(TextChunk("x"))
    trace.attempt_ended(result_of([TextChunk("x")]))
    trace.close()
    assert isinstance(trace.write_error, OSError)


def test_concurrent_writers_never_interleave_lines(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    trace = TraceWriter(path)
    trace.attempt_started(1, 1, "anthropic", "m")

    def write() -> None:
        for _ in range(200):
            trace.delta(TextChunk("abc"))

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    trace.attempt_ended(result_of([]))
    trace.close()
    lines = read(path)
    assert len(of_kind(lines, "text")) == 800
    (summary,) = of_kind(lines, "summary")
    assert summary["progress_deltas"] == 800 and summary["bytes"] == 2400


def test_trimming_and_compaction_are_recorded_between_calls(tmp_path: Path) -> None:
    from agent.events import Compacted, ContextTrimmed

    clock = FakeClock()
    path = tmp_path / "t.jsonl"
    with TraceWriter(path, clock=clock) as trace:
        clock.advance(2.0)
        trace.context_event(ContextTrimmed(4, 13_000, 9_000))
        trace.context_event(Compacted(120, 12_900, 4_100, 900, "overflow", 13_500))
    first, second = read(path)[:2]
    assert first == {
        "t": 2.0, "kind": "context_trimmed", "bytes": 0, "call": None, "attempt": None,
        "results": 4, "tokens_before": 13_000, "tokens_after": 9_000,
    }  # fmt: skip
    assert second["kind"] == "compacted" and second["reason"] == "overflow"
    assert (second["tokens_before"], second["tokens_after"], second["summary_tokens"]) == (12_900, 4_100, 900)
