"""The file tools: read_file, write_file, patch, search_files and list_dir."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tools import ToolContext, ToolError, ToolOutcome, ToolRegistry, builtin_tools
from tools.patch import PatchError, apply_edits


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(workdir=tmp_path)


@pytest.fixture
def registry() -> ToolRegistry:
    return ToolRegistry(builtin_tools())


def run(registry: ToolRegistry, ctx: ToolContext, name: str, **arguments: Any) -> ToolOutcome:
    return registry.execute(name, arguments, ctx)


# --- read_file -------------------------------------------------------------------------


def test_read_file_whole_and_ranges(registry: ToolRegistry, ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("".join(f"line {n}\n" for n in range(1, 121)))
    whole = run(registry, ctx, "read_file", path="notes.txt")
    assert whole.content.startswith("[lines 1-120 of 120 in notes.txt]\nline 1\n")
    assert whole.content.endswith("line 120\n")
    assert whole.summary == "read 120 lines"
    part = run(registry, ctx, "read_file", path="notes.txt", offset=11, limit=30)
    assert part.content.split("\n")[:2] == ["[lines 11-40 of 120 in notes.txt]", "line 11"]
    assert "line 40\n" in part.content and "line 41\n" not in part.content
    assert part.content.endswith("[80 more lines; continue with offset=41]")


def test_read_file_keeps_text_verbatim(registry: ToolRegistry, ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "crlf.txt").write_bytes(b"a\r\nb\r\n\tc")
    outcome = run(registry, ctx, "read_file", path="crlf.txt")
    assert outcome.content == "[lines 1-3 of 3 in crlf.txt]\na\r\nb\r\n\tc"


def test_read_file_errors(registry: ToolRegistry, ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "img.bin").write_bytes(b"\x89PNG\x00\x01")
    (tmp_path / "short.txt").write_text("one\n")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "dir").mkdir()
    assert "binary" in run(registry, ctx, "read_file", path="img.bin").content
    assert "file not found: nope.txt" in run(registry, ctx, "read_file", path="nope.txt").content
    assert "past the end" in run(registry, ctx, "read_file", path="short.txt", offset=5).content
    assert "is a directory" in run(registry, ctx, "read_file", path="dir").content
    assert run(registry, ctx, "read_file", path="empty.txt").content == "[empty.txt is empty]"


def test_read_file_caps_output_and_says_how_to_continue(registry: ToolRegistry, tmp_path: Path) -> None:
    ctx = ToolContext(workdir=tmp_path, max_output_chars=1_000)
    (tmp_path / "big.txt").write_text("".join(f"{n:04d} {'x' * 45}\n" for n in range(1, 201)))
    outcome = run(registry, ctx, "read_file", path="big.txt")
    assert len(outcome.content) <= 1_000
    header = outcome.content.split("\n")[0]
    assert header.startswith("[lines 1-") and header.endswith("of 200 in big.txt]")
    last = int(header.split("-")[1].split(" ")[0])
    assert f"continue with offset={last + 1}" in outcome.content
    (tmp_path / "wide.txt").write_text("y" * 5_000 + "\nsecond\n")
    wide = run(registry, ctx, "read_file", path="wide.txt")
    assert wide.content.startswith("[lines 1-1 of 2 in wide.txt]\nyyy")
    assert "line 1 is cut" in wide.content and "offset=2" in wide.content


# --- write_file ------------------------------------------------------------------------


def test_write_file_creates_parents_and_appends(registry: ToolRegistry, ctx: ToolContext, tmp_path: Path) -> None:
    first = run(registry, ctx, "write_file", path="deep/er/out.txt", content="héllo\n")
    assert first.content == "wrote 6 characters to deep/er/out.txt (now 7 bytes)"
    assert first.summary == "wrote 6 characters"
    second = run(registry, ctx, "write_file", path="deep/er/out.txt", content="more\n", mode="append")
    assert second.content == "appended 5 characters to deep/er/out.txt (now 12 bytes)"
    assert (tmp_path / "deep/er/out.txt").read_text(encoding="utf-8") == "héllo\nmore\n"
    run(registry, ctx, "write_file", path="deep/er/out.txt", content="new")
    assert (tmp_path / "deep/er/out.txt").read_text() == "new"


def test_write_file_keeps_newlines_exactly(registry: ToolRegistry, ctx: ToolContext, tmp_path: Path) -> None:
    run(registry, ctx, "write_file", path="w.txt", content="a\r\nb\n")
    assert (tmp_path / "w.txt").read_bytes() == b"a\r\nb\n"


def test_write_file_errors(registry: ToolRegistry, ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("")
    assert "is a directory" in run(registry, ctx, "write_file", path="dir", content="x").content
    blocked = run(registry, ctx, "write_file", path="file/child.txt", content="x")
    assert blocked.is_error and "cannot write file/child.txt" in blocked.content
    bad_mode = run(registry, ctx, "write_file", path="a.txt", content="x", mode="prepend")
    assert bad_mode.is_error and "mode: 'prepend' is not one of" in bad_mode.content


# --- patch -----------------------------------------------------------------------------


def test_apply_edits_in_order() -> None:
    text = "alpha\nbeta\ngamma\n"
    assert apply_edits(text, [("alpha", "ALPHA"), ("ALPHA\nbeta", "AB"), ("gamma", "")]) == "AB\n\n"


def test_apply_edits_missing_quotes_an_excerpt() -> None:
    with pytest.raises(PatchError) as info:
        apply_edits("one two", [("one", "1"), ("three " * 30, "3")])
    message = str(info.value)
    assert message.startswith("edit 2 of 2: old text not found: 'three three")
    assert "(180 characters)" in message and "No changes were written" in message


def test_apply_edits_whitespace_hint() -> None:
    with pytest.raises(PatchError, match="whitespace"):
        apply_edits("    x = 1\n", [("  x = 1  ", "x = 2")])


def test_apply_edits_ambiguous_and_empty() -> None:
    with pytest.raises(PatchError, match="occurs 3 times"):
        apply_edits("a a a", [("a", "b")])
    with pytest.raises(PatchError, match="empty"):
        apply_edits("a", [("", "b")])
    with pytest.raises(PatchError, match="no edits"):
        apply_edits("a", [])
    assert issubclass(PatchError, ToolError)


def test_patch_tool_several_edits(registry: ToolRegistry, ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "code.py").write_text("def f():\n    return 1\n\ndef g():\n    return 2\n")
    edits = [{"old": "return 1", "new": "return 10"}, {"old": "def g():", "new": "def h():"}]
    outcome = run(registry, ctx, "patch", path="code.py", edits=edits)
    assert outcome.content == "applied 2 edits to code.py (5 -> 5 lines)"
    assert outcome.summary == "applied 2 edits"
    assert (tmp_path / "code.py").read_text() == "def f():\n    return 10\n\ndef h():\n    return 2\n"


def test_patch_tool_is_all_or_nothing(registry: ToolRegistry, ctx: ToolContext, tmp_path: Path) -> None:
    original = "x = 1\ny = 2\ny = 2\n"
    (tmp_path / "v.py").write_text(original)
    missing = [{"old": "x = 1", "new": "x = 9"}, {"old": "z = 3", "new": "z = 4"}]
    outcome = run(registry, ctx, "patch", path="v.py", edits=missing)
    assert outcome.is_error and "edit 2 of 2: old text not found" in outcome.content
    ambiguous = [{"old": "x = 1", "new": "x = 9"}, {"old": "y = 2", "new": "y = 3"}]
    outcome = run(registry, ctx, "patch", path="v.py", edits=ambiguous)
    assert outcome.is_error and "occurs 2 times" in outcome.content
    assert (tmp_path / "v.py").read_text() == original


def test_patch_tool_keeps_crlf_files_crlf(registry: ToolRegistry, ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "win.txt").write_bytes(b"one\r\ntwo\r\nthree\r\n")
    outcome = run(registry, ctx, "patch", path="win.txt", edits=[{"old": "one\ntwo", "new": "1\n2"}])
    assert not outcome.is_error, outcome.content
    assert (tmp_path / "win.txt").read_bytes() == b"1\r\n2\r\nthree\r\n"


def test_patch_tool_errors(registry: ToolRegistry, ctx: ToolContext, tmp_path: Path) -> None:
    edit = [{"old": "a", "new": "b"}]
    assert "use write_file to create it" in run(registry, ctx, "patch", path="new.txt", edits=edit).content
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    assert "not valid UTF-8" in run(registry, ctx, "patch", path="latin1.txt", edits=edit).content


# --- search_files ----------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "mod.py").write_text("import os\n\ndef needle():\n    return 'needle'\n")
    (tmp_path / "src" / "notes.md").write_text("a needle in the notes\n")
    (tmp_path / "blob.bin").write_bytes(b"needle\x00\x01")
    for skipped in (".git", "node_modules", "__pycache__", ".venv"):
        (tmp_path / skipped).mkdir()
        (tmp_path / skipped / "hidden.py").write_text("needle\n")
    return tmp_path


def test_search_finds_lines_and_skips_noise(registry: ToolRegistry, ctx: ToolContext, tree: Path) -> None:
    outcome = run(registry, ctx, "search_files", pattern=r"needle\b")
    assert outcome.content.split("\n") == [
        "[3 matches in 2 files]",
        "src/notes.md:1: a needle in the notes",
        "src/pkg/mod.py:3: def needle():",
        "src/pkg/mod.py:4:     return 'needle'",
    ]
    assert outcome.summary == "3 matches in 2 files"


def test_search_path_and_glob(registry: ToolRegistry, ctx: ToolContext, tree: Path) -> None:
    in_pkg = run(registry, ctx, "search_files", pattern="needle", path="src/pkg")
    assert in_pkg.content.startswith("[2 matches in 1 file]")
    only_md = run(registry, ctx, "search_files", pattern="needle", glob="*.md")
    assert only_md.content.split("\n")[1:] == ["src/notes.md:1: a needle in the notes"]
    one_file = run(registry, ctx, "search_files", pattern="import", path="src/pkg/mod.py")
    assert one_file.content.endswith("src/pkg/mod.py:1: import os")


def test_search_no_matches_is_not_an_error(registry: ToolRegistry, ctx: ToolContext, tree: Path) -> None:
    outcome = run(registry, ctx, "search_files", pattern="haystack")
    assert not outcome.is_error
    assert outcome.content == "no matches for 'haystack' in ."


def test_search_caps_results_and_long_lines(registry: ToolRegistry, ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "many.txt").write_text("hit\n" * 150 + "hit " + "z" * 1000 + "\n")
    capped = run(registry, ctx, "search_files", pattern="hit")
    lines = capped.content.split("\n")
    assert len(lines) == 101
    assert lines[0].startswith("[showing the first 100 matches in 1 file; there are more")
    assert "max_results" in lines[0]
    assert capped.summary == "100 matches in 1 file (capped)"
    few = run(registry, ctx, "search_files", pattern="hit", max_results=3)
    assert len(few.content.split("\n")) == 4
    long = run(registry, ctx, "search_files", pattern="hit z")
    hit = long.content.split("\n")[1]
    assert hit.startswith("many.txt:151: hit zzz") and hit.endswith("…")
    assert len(hit) < 330


def test_search_bad_regex(registry: ToolRegistry, ctx: ToolContext) -> None:
    outcome = run(registry, ctx, "search_files", pattern="([unclosed")
    assert outcome.is_error and "invalid regular expression '([unclosed'" in outcome.content


def test_search_skips_symlinks_leaving_the_workdir(registry: ToolRegistry, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "secret.txt").write_text("needle\n")
    (work / "peek.txt").symlink_to(tmp_path / "secret.txt")
    outcome = registry.execute("search_files", {"pattern": "needle"}, ToolContext(workdir=work))
    assert outcome.content.startswith("no matches")


# --- list_dir --------------------------------------------------------------------------


def test_list_dir(registry: ToolRegistry, ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "b_dir").mkdir()
    (tmp_path / "a.txt").write_text("x" * 1234)
    (tmp_path / "c").symlink_to("a.txt")
    outcome = run(registry, ctx, "list_dir")
    assert outcome.content.split("\n") == ["[3 entries in .]", "a.txt (1,234 bytes)", "b_dir/", "c -> a.txt"]
    assert outcome.summary == "3 entries"
    assert run(registry, ctx, "list_dir", path="b_dir").content == "[0 entries in b_dir]\n(empty directory)"


def test_list_dir_caps_and_errors(registry: ToolRegistry, ctx: ToolContext, tmp_path: Path) -> None:
    many = tmp_path / "many"
    many.mkdir()
    for n in range(510):
        (many / f"f{n:03d}").write_text("")
    outcome = run(registry, ctx, "list_dir", path="many")
    lines = outcome.content.split("\n")
    assert lines[0] == "[510 entries in many]" and len(lines) == 502
    assert lines[-1] == "[... 10 more entries not shown]"
    assert "directory not found" in run(registry, ctx, "list_dir", path="nope").content
    assert "use read_file" in run(registry, ctx, "list_dir", path="many/f000").content
