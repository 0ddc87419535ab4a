"""AIAgent and the context keeper, in process (ScriptedProvider): the compaction argument,
the window's fill, and the full history beside the working one (undo, replacing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent import AIAgent, CompactionSettings
from agent.context.compaction import SUMMARY_REQUEST_MARK
from agent.context.state import SUMMARY_MARK, ContextState, unmirrored
from agent.errors import ConfigError
from agent.messages import user_message
from agent.providers.base import ModelRequest
from agent.testing import ScriptedProvider, ScriptedReply
from tests.context_helpers import task_history, tool_round


class LongTask:
    """Reads notes_1.txt to notes_30.txt; answers a summary request with a summary."""

    def __init__(self) -> None:
        self.reads = 0

    def __call__(self, request: ModelRequest) -> ScriptedReply:
        last = request.messages[-1]
        if last.role == "user" and SUMMARY_REQUEST_MARK in last.text:
            return ScriptedReply("## Goal and constraints\nread the notes\n## Next steps\nread them again")
        if self.reads >= 30 or "warm up" in last.text:
            return ScriptedReply("Read them all.")
        self.reads += 1
        return ScriptedReply(f"Read {self.reads}.", [("read_file", {"path": f"notes_{self.reads}.txt"})])


def agent_on(tmp_path: Path, window: int = 6_000, **options: object) -> AIAgent:
    for n in range(1, 31):
        (tmp_path / f"notes_{n}.txt").write_text(f"note {n}: a line of notes that is long enough to matter\n" * 12)
    task = LongTask()
    provider = ScriptedProvider([task] * 80, context_window=window, max_output_tokens=1_000)
    return AIAgent(provider=provider, workdir=tmp_path, max_iterations=80, **options)  # type: ignore[arg-type]


def test_the_compaction_argument() -> None:
    assert CompactionSettings.coerce(False) == CompactionSettings(enabled=False)
    assert CompactionSettings.coerce({"threshold": 0.7}) == CompactionSettings(threshold=0.7)
    assert CompactionSettings.coerce(None) is None
    with pytest.raises(ConfigError, match="unknown compaction setting"):
        CompactionSettings.coerce({"thresold": 0.7})
    with pytest.raises(ConfigError, match="between 0 and 1"):
        CompactionSettings.coerce({"threshold": 80})


def test_a_small_window_compacts_and_undo_brings_back_what_the_model_saw(tmp_path: Path) -> None:
    agent = agent_on(tmp_path, compaction={"keep_tool_rounds": 2})
    agent.run("warm up")  # one short turn first
    before = [m.to_dict() for m in agent.history]
    result = agent.run("read the notes thirty times")
    assert result.status == "completed", result.error
    assert result.counts.get("compacted", 0) >= 1 and result.context["compactions"] >= 1
    assert SUMMARY_MARK in agent.history[1].text and agent.history[0].text == "warm up"
    assert len(agent.full_history) > len(agent.history)
    usage = agent.context_usage
    assert usage["window"] == 6_000 and 0 < usage["fill"] < 0.8 and usage["compactions"] >= 1
    assert agent.undo() == "read the notes thirty times"
    assert [m.to_dict() for m in agent.history] == before == [m.to_dict() for m in agent.full_history]
    assert agent.context_usage["compactions"] == 0


def test_turned_off_it_never_compacts(tmp_path: Path) -> None:
    agent = agent_on(tmp_path, window=200_000, compaction=False)
    result = agent.run("read the notes thirty times")
    assert result.status == "completed"
    assert "compacted" not in result.counts and "context_trimmed" not in result.counts
    assert agent.full_history == agent.history


def test_the_fill_is_known_before_the_first_request(tmp_path: Path) -> None:
    agent = agent_on(tmp_path)
    usage = agent.context_usage
    assert usage["window"] == 6_000 and usage["tokens"] > 100  # the system prompt and the tools
    agent.history = [user_message("x" * 4_000)]
    assert agent.context_usage["tokens"] > 1_000


def test_replacing_the_history_forgets_compactions(tmp_path: Path) -> None:
    agent = agent_on(tmp_path)
    agent.run("read the notes thirty times")
    agent.history = [user_message("start again")]
    assert agent.full_history == agent.history and agent.context_usage["compactions"] == 0


def test_messages_kept_only_in_memory_are_brought_into_the_full_history() -> None:
    full = task_history(3)
    working = [*full, *tool_round(4)]  # a session write failed: the loop kept them in memory only
    assert unmirrored(full, working, ContextState()) == working[len(full) :]
    assert unmirrored(full, full, ContextState()) == []


def test_what_was_learned_about_a_model_outlives_a_conversation() -> None:
    from agent.context.keeper import ContextKeeper

    keeper = ContextKeeper(CompactionSettings())
    keeper.reset(ContextState(calibration={"m": 1.3}, windows={"m": 8_192}))
    keeper.reset()  # a new conversation
    assert keeper.state.calibration == {"m": 1.3} and keeper.state.windows == {"m": 8_192}
    state = ContextState(calibration={"m": 1.25}, windows={"m": 4_096})
    assert ContextState.from_dict(state.to_dict()) == state
    assert state.undone(0).calibration == {"m": 1.25}
