"""File tools that cannot half-write or escape: atomic replace, confinement on what was
opened, special and oversized files refused before reading, .git writes asked.

Timeouts here are generous safety nets for "does not hang", never speed assertions.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tools import ToolContext, ToolError, ToolOutcome, ToolRegistry, builtin_tools
from tools.confined import MAX_READ_BYTES, confined_dir, read_confined
from tools.files import GIT_WRITE_REASON

ROOT = Path(__file__).resolve().parents[2]
HANG_TIMEOUT = 60.0


@pytest.fixture
def work(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "outside"
    path.mkdir()
    (path / "victim.txt").write_text("untouched\n")
    return path


def run(work: Path, name: str, approve: Callable[[str, str], bool] | None = None, **arguments: Any) -> ToolOutcome:
    return ToolRegistry(builtin_tools()).execute(name, arguments, ToolContext(work, approve=approve))


def run_with_timeout(work: Path, name: str, **arguments: Any) -> ToolOutcome:
    """Run in a thread so that a hang fails the test instead of freezing the suite."""
    result: list[ToolOutcome] = []
    thread = threading.Thread(target=lambda: result.append(run(work, name, **arguments)), daemon=True)
    thread.start()
    thread.join(HANG_TIMEOUT)
    assert not thread.is_alive(), f"{name} {arguments} hung"
    return result[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# --- atomic writes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("write_file", {"content": "new\n"}),
        ("write_file", {"content": "more\n", "mode": "append"}),
        ("patch", {"edits": [{"old": "old", "new": "new"}]}),
    ],
)
def test_writes_keep_the_file_mode_and_leave_no_temporary_file(work: Path, tool: str, arguments: Any) -> None:
    target = work / "script.sh"
    target.write_text("old\n")
    target.chmod(0o751)
    before = target.stat()
    outcome = run(work, tool, path="script.sh", **arguments)
    assert not outcome.is_error, outcome.content
    after = target.stat()
    assert stat.S_IMODE(after.st_mode) == 0o751
    assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)
    assert after.st_ino != before.st_ino  # replaced by rename, not rewritten in place
    assert leftovers(work) == []


def test_append_keeps_the_old_content_and_new_files_get_the_umask_mode(work: Path) -> None:
    run(work, "write_file", path="log.txt", content="one\n")
    run(work, "write_file", path="log.txt", content="two\n", mode="append")
    assert (work / "log.txt").read_text() == "one\ntwo\n"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((work / "log.txt").stat().st_mode) == 0o666 & ~umask


def test_a_read_only_file_is_not_replaced(work: Path) -> None:
    target = work / "locked.txt"
    target.write_text("keep\n")
    target.chmod(0o444)
    if os.access(target, os.W_OK):
        pytest.skip("running as root: read-only files are writable")
    outcome = run(work, "write_file", path="locked.txt", content="changed")
    assert outcome.is_error and "read-only" in outcome.content
    assert target.read_text() == "keep\n"


_WRITER = """
import sys
from pathlib import Path
from tools import ToolContext, ToolRegistry, builtin_tools

work, size = Path(sys.argv[1]), int(sys.argv[2])
registry, ctx = ToolRegistry(builtin_tools()), ToolContext(work)
contents = ["A" * size, "B" * size]
for number in range(1_000_000):
    print(number, flush=True)
    outcome = registry.execute("write_file", {"path": "big.txt", "content": contents[number % 2]}, ctx)
    assert not outcome.is_error, outcome.content
"""


def _kill_while_writing(proc: subprocess.Popen[str], work: Path, settled: set[int]) -> None:
    """SIGKILL the writer at the first sign, seen from outside, that a write is under way:
    a new entry in the folder (a temporary file) or the target at an unfinished size."""
    assert proc.stdout is not None
    assert proc.stdout.readline(), "the writer died on its own"  # it is about to write
    deadline = time.monotonic() + HANG_TIMEOUT
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                size = (work / "big.txt").stat().st_size
            except FileNotFoundError:
                break
            if size not in settled or set(os.listdir(work)) != {"big.txt"}:
                break
            time.sleep(0.0005)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=HANG_TIMEOUT)
        proc.stdout.close()


@pytest.mark.parametrize("round_", [1, 2, 3])
def test_kill_9_during_a_large_write_leaves_the_old_content_or_the_new(work: Path, round_: int) -> None:
    size = 8_000_000
    old = "old content\n" * 1000
    (work / "big.txt").write_text(old)
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(work), str(size)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    _kill_while_writing(proc, work, {len(old), size})
    data = (work / "big.txt").read_text()
    assert data in (old, "A" * size, "B" * size), f"a mix: {len(data):,} characters, starting {data[:20]!r}"


# --- confinement on what was opened ------------------------------------------------------


def test_a_folder_swapped_for_a_symlink_after_the_check_is_refused(work: Path, outside: Path) -> None:
    # resolve_in_workdir saw a real folder "d"; by the time it is opened it is a link out.
    checked = work / "d" / "victim.txt"
    (work / "d").symlink_to(outside)
    with pytest.raises(ToolError, match="symbolic link that appeared after the path was checked"):
        read_confined(work, checked, "d/victim.txt")
    with pytest.raises(ToolError, match="symbolic link"), confined_dir(work, checked.parent, "d", verb="write"):
        pass
    assert (outside / "victim.txt").read_text() == "untouched\n"


def test_a_file_swapped_for_a_symlink_after_the_check_is_refused(work: Path, outside: Path) -> None:
    (work / "f.txt").symlink_to(outside / "victim.txt")
    with pytest.raises(ToolError, match="symbolic link"):
        read_confined(work, work / "f.txt", "f.txt")
    from tools.confined import replace_at

    with confined_dir(work, work, ".", verb="write") as folder, pytest.raises(ToolError, match="symbolic link"):
        replace_at(folder, "f.txt", "f.txt", b"escaped")
    assert (outside / "victim.txt").read_text() == "untouched\n"


def test_a_symlink_swapped_back_and_forth_during_writes_never_lets_one_out(work: Path, outside: Path) -> None:
    target, link, real = work / "notes.txt", work / ".link", work / ".real"
    stop = threading.Event()

    def swap() -> None:  # notes.txt: a regular file, then a symlink to the victim, atomically
        while not stop.is_set():
            link.unlink(missing_ok=True)
            link.symlink_to(outside / "victim.txt")
            os.replace(link, target)
            real.write_text("inside\n")
            os.replace(real, target)

    racer = threading.Thread(target=swap, daemon=True)
    racer.start()
    try:
        outcomes = [run(work, "write_file", path="notes.txt", content=f"write {n}\n") for n in range(300)]
    finally:
        stop.set()
        racer.join(HANG_TIMEOUT)
    assert (outside / "victim.txt").read_text() == "untouched\n"
    # Each write landed inside or was refused: outside the workdir (the check saw the link),
    # a symlink that appeared after the check, or a path that changed while it was resolved.
    refusals = ("outside the working directory", "symbolic link", "cannot resolve path")
    for outcome in outcomes:
        assert not outcome.is_error or any(text in outcome.content for text in refusals), outcome.content


def test_a_link_inside_the_workdir_still_works(work: Path) -> None:
    (work / "real").mkdir()
    (work / "real" / "a.txt").write_text("one\n")
    (work / "alias").symlink_to(work / "real")
    (work / "b.txt").symlink_to(work / "real" / "a.txt")
    assert run(work, "read_file", path="alias/a.txt").content.endswith("one\n")
    run(work, "write_file", path="b.txt", content="two\n")
    assert (work / "real" / "a.txt").read_text() == "two\n" and (work / "b.txt").is_symlink()


# --- special and oversized files -----------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("read_file", {}),
        ("patch", {"edits": [{"old": "a", "new": "b"}]}),
        ("write_file", {"content": "x"}),
        ("write_file", {"content": "x", "mode": "append"}),
    ],
)
def test_a_fifo_is_refused_without_hanging(work: Path, tool: str, arguments: Any) -> None:
    os.mkfifo(work / "pipe")
    outcome = run_with_timeout(work, tool, path="pipe", **arguments)
    assert outcome.is_error and "named pipe (FIFO)" in outcome.content
    assert stat.S_ISFIFO((work / "pipe").stat().st_mode)


def test_a_fifo_reached_through_a_symlink_is_refused(work: Path) -> None:
    os.mkfifo(work / "pipe")
    (work / "innocent.txt").symlink_to(work / "pipe")
    outcome = run_with_timeout(work, "read_file", path="innocent.txt")
    assert outcome.is_error and "named pipe" in outcome.content


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_search_skips_a_fifo_without_hanging(work: Path) -> None:
    os.mkfifo(work / "pipe")
    (work / "notes.txt").write_text("needle\n")
    outcome = run_with_timeout(work, "search_files", pattern="needle")
    assert not outcome.is_error and "notes.txt:1: needle" in outcome.content


def test_a_2_gb_sparse_file_is_refused_before_reading(work: Path) -> None:
    with (work / "huge.img").open("wb") as handle:
        handle.truncate(2 * 1024**3)
    for tool, arguments in (("read_file", {}), ("patch", {"edits": [{"old": "a", "new": "b"}]})):
        outcome = run_with_timeout(work, tool, path="huge.img", **arguments)
        assert outcome.is_error
        assert "2,147,483,648 bytes" in outcome.content and f"{MAX_READ_BYTES:,}-byte limit" in outcome.content
        assert "nothing was read" in outcome.content and "head" in outcome.content
    search = run_with_timeout(work, "search_files", pattern="x")
    assert not search.is_error


def test_devices_are_refused(work: Path) -> None:
    null = Path("/dev/null")
    if not null.exists():
        pytest.skip("no /dev/null")
    with pytest.raises(ToolError, match="a device"):
        read_confined(Path("/dev"), null, "null")


# --- writes under .git ask ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [("write_file", {"content": "#!/bin/sh\necho hi\n"}), ("patch", {"edits": [{"old": "old", "new": "new"}]})],
)
def test_writes_under_git_ask_like_a_dangerous_command(work: Path, tool: str, arguments: Any) -> None:
    hook = work / ".git" / "hooks" / "pre-commit"
    hook.parent.mkdir(parents=True)
    hook.write_text("old\n")
    asked: list[tuple[str, str]] = []

    def refuse(name: str, action: str) -> bool:
        asked.append((name, action))
        return False

    refused = run(work, tool, approve=refuse, path=".git/hooks/pre-commit", **arguments)
    assert refused.is_error and "refused" in refused.content and "did not approve" in refused.content
    assert hook.read_text() == "old\n"
    assert asked == [(tool, f"{GIT_WRITE_REASON}: .git/hooks/pre-commit")]
    approved = run(work, tool, approve=lambda name, action: True, path=".git/hooks/pre-commit", **arguments)
    assert not approved.is_error and hook.read_text() != "old\n"


def test_writes_elsewhere_do_not_ask(work: Path) -> None:
    def never(name: str, action: str) -> bool:
        raise AssertionError("asked")

    assert not run(work, "write_file", approve=never, path=".gitignore", content="x\n").is_error
    assert not run(work, "write_file", approve=never, path="repo.git/config", content="x\n").is_error
