"""The task file and the results file of ``stayline batch``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.batch.job import task_settings, workdir_name
from agent.batch.results import ResultsFile, done_ids, iter_records, latest_by_id
from agent.batch.runner import prepare_workdir
from agent.batch.tasks import BadLine, Task, TaskError, parse_lines, parse_task
from agent.config import Settings


def test_a_full_task_line_parses() -> None:
    task = parse_task(
        {
            "id": "t1",
            "prompt": "do it",
            "provider": "openai",
            "model": "gpt-4.1",
            "system": "be brief",
            "max_iterations": 5,
            "files": {"src/a.py": "print(1)\n"},
            "metadata": {"split": "dev"},
        },
        line=3,
    )
    assert task == Task(
        "t1", "do it", "openai", "gpt-4.1", "be brief", 5, {"src/a.py": "print(1)\n"}, {"split": "dev"}, 3
    )
    assert parse_task({"id": 7, "prompt": "x"}).key == "7"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"prompt": "x"}, 'no "id"'),
        ({"id": True, "prompt": "x"}, '"id" must be a string or a whole number'),
        ({"id": " ", "prompt": "x"}, '"id" must be a non-empty string'),
        ({"id": "a"}, 'no "prompt"'),
        ({"id": "a", "prompt": ""}, '"prompt" must be a non-empty string'),
        ({"id": "a", "prompt": "x", "promt": "y"}, "unknown key 'promt'"),
        ({"id": "a", "prompt": "x", "max_iterations": 0}, '"max_iterations" must be a whole number'),
        ({"id": "a", "prompt": "x", "files": ["a"]}, '"files" must be an object'),
        ({"id": "a", "prompt": "x", "files": {"/etc/passwd": "x"}}, "is absolute"),
        ({"id": "a", "prompt": "x", "files": {"../up.txt": "x"}}, "leaves the workdir"),
        ({"id": "a", "prompt": "x", "files": {"a//b": "x"}}, "empty part"),
        ({"id": "a", "prompt": "x", "files": {"a.txt": 3}}, "must be a string"),
        (["a"], "a task is a JSON object, not a list"),
    ],
)
def test_a_bad_task_says_what_is_wrong(line: object, message: str) -> None:
    with pytest.raises(TaskError, match=message.replace("(", r"\(")):
        parse_task(line)


def test_lines_keep_their_numbers_and_bad_ones_do_not_stop_the_rest() -> None:
    lines = [
        json.dumps({"id": "a", "prompt": "x"}),
        "",
        "{not json",
        json.dumps({"id": "a", "prompt": "again"}),
        json.dumps({"id": "b", "prompt": "y", "typo": 1}),
        json.dumps({"id": "c", "prompt": "z"}),
    ]
    items = list(parse_lines(lines))
    assert [i.line for i in items] == [1, 3, 4, 5, 6]
    assert [type(i) for i in items] == [Task, BadLine, BadLine, BadLine, Task]
    bad = [i for i in items if isinstance(i, BadLine)]
    assert bad[0].describe().startswith("line 3: not valid JSON")
    assert bad[1].describe() == "line 4: id 'a' is already used on line 1"
    assert bad[2].task_id == "b" and "unknown key 'typo'" in bad[2].message


def test_workdir_names_are_safe_and_distinct() -> None:
    assert workdir_name("task-1.a") == "task-1.a"
    assert workdir_name(42) == "42"
    names = {workdir_name(i) for i in ("../x", "..", "a/b", "a_b", "a b", ".hidden", "")}
    assert len(names) == 7
    for name in names:
        assert "/" not in name and not name.startswith(".") and name


def test_a_workdir_is_fresh_with_the_task_files(tmp_path: Path) -> None:
    task = Task("t", "x", files={"src/a.py": "A", "b.txt": "B"})
    workdir = prepare_workdir(tmp_path, task)
    (workdir / "left-over.txt").write_text("from a killed run")
    workdir = prepare_workdir(tmp_path, task)
    assert sorted(str(p.relative_to(workdir)) for p in workdir.rglob("*")) == ["b.txt", "src", "src/a.py"]
    assert (workdir / "src" / "a.py").read_text() == "A"


def test_a_task_on_another_provider_starts_from_that_providers_defaults() -> None:
    base = Settings(provider="anthropic", model="claude-sonnet-4-6", base_url="http://x", api_key="k", max_iterations=9)
    same = task_settings(base, Task("a", "x", provider="anthropic", model="claude-opus-4-6", max_iterations=3))
    assert (same.base_url, same.api_key, same.model, same.max_iterations) == ("http://x", "k", "claude-opus-4-6", 3)
    other = task_settings(base, Task("b", "x", provider="openai", system="S"))
    assert (other.provider, other.base_url, other.api_key, other.model) == ("openai", None, None, None)
    assert other.system_prompt == "S" and other.max_iterations == 9


# --- the results file -------------------------------------------------------------------------


def test_results_append_one_line_each_and_the_last_line_of_an_id_wins(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with ResultsFile(path) as results:
        results.append({"id": "a", "status": "interrupted"})
        results.append({"id": "b", "status": "failed", "final_text": "two\nlines"})
        results.append({"id": "a", "status": "completed"})
        results.append({"id": 3, "status": "completed"})
    assert len(path.read_text().splitlines()) == 4
    latest = latest_by_id(iter_records(path))
    assert {k: v["status"] for k, v in latest.items()} == {"a": "completed", "b": "failed", "3": "completed"}
    assert done_ids(path) == {"a", "b", "3"}
    assert done_ids(path, retry_failed=True) == {"a", "3"}
    assert done_ids(tmp_path / "missing.jsonl") == set()


def test_an_interrupted_task_is_not_done(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with ResultsFile(path) as results:
        results.append({"id": "a", "status": "interrupted"})
    assert done_ids(path) == set()


def test_a_line_cut_by_a_kill_is_ignored_then_dropped_before_the_next_append(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    whole = json.dumps({"id": "a", "status": "completed"}) + "\n"
    path.write_text(whole + '{"id": "b", "status": "compl')  # the write that a kill -9 cut short
    assert [r["id"] for r in iter_records(path)] == ["a"]
    with ResultsFile(path) as results:
        assert results.repaired
        results.append({"id": "b", "status": "completed"})
    assert path.read_text() == whole + '{"id":"b","status":"completed"}\n'
    with ResultsFile(path) as results:
        assert not results.repaired


def test_foreign_lines_in_the_results_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('garbage\n["a list"]\n{"no": "id"}\n{"id": "a", "status": "completed"}\n')
    assert [r["id"] for r in iter_records(path)] == ["a"]


def test_a_plan_from_python_takes_dicts_rejects_repeats_and_skips_what_is_done(tmp_path: Path) -> None:
    from agent.batch.run import plan_batch

    out = tmp_path / "r.jsonl"
    with ResultsFile(out) as results:
        results.append({"id": "a", "status": "completed"})
        results.append({"id": "b", "status": "interrupted"})
    plan = plan_batch([{"id": "a", "prompt": "x"}, Task("b", "y"), {"id": 3, "prompt": "z"}], out)
    assert [t.key for t in plan.to_run] == ["b", "3"] and [t.key for t in plan.skipped] == ["a"]
    with pytest.raises(TaskError, match="repeated: a"):
        plan_batch([Task("a", "x"), {"id": "a", "prompt": "y"}], None)
    with pytest.raises(TaskError, match='no "prompt"'):
        plan_batch([{"id": "c"}], None)


def test_a_task_whose_agent_cannot_be_built_fails_with_a_setup_cause(tmp_path: Path) -> None:
    import threading

    from agent.batch.job import BatchJob
    from agent.batch.runner import run_task

    job = BatchJob(Settings(provider="anthropic", api_key="k"), tmp_path)
    outcome = run_task(Task("a", "x", provider="custom", metadata=[1]), job, None, threading.Event())
    record = outcome.record
    assert (record["status"], record["cause"], record["metadata"]) == ("failed", "setup", [1])
    assert "--base-url" in record["error"] and record["error"].endswith("Nothing ran.")
    stopped = threading.Event()
    stopped.set()
    record = run_task(Task("b", "x"), job, None, stopped).record
    assert (record["status"], record["cause"]) == ("interrupted", "interrupted")
