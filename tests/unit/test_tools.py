"""The tool layer: registry, argument validation, path confinement and the file tools."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tools import (
    Tool,
    ToolContext,
    ToolError,
    ToolOutcome,
    ToolRegistry,
    builtin_tools,
    target_of,
    validate_arguments,
)
from tools.paths import resolve_in_workdir


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(workdir=tmp_path)


@pytest.fixture
def registry() -> ToolRegistry:
    return ToolRegistry(builtin_tools())


def run(registry: ToolRegistry, ctx: ToolContext, name: str, **arguments: Any) -> ToolOutcome:
    return registry.execute(name, arguments, ctx)


# --- registry --------------------------------------------------------------------------


def _tool(name: str, handler: Any, schema: dict[str, Any] | None = None) -> Tool:
    return Tool(name=name, description="test", schema=schema or {"type": "object"}, handler=handler)


def test_builtin_tools_are_registered_with_side_effect_flags(registry: ToolRegistry) -> None:
    assert registry.names() == ["read_file", "write_file", "patch", "search_files", "list_dir", "terminal"]
    effects = {tool.name: tool.side_effects for tool in registry}
    assert effects == {
        "read_file": False,
        "write_file": True,
        "patch": True,
        "search_files": False,
        "list_dir": False,
        "terminal": True,
    }
    for tool in registry:
        assert tool.schema["type"] == "object" and tool.description
        for prop in tool.schema["properties"].values():
            assert prop.get("description") or prop.get("type") == "array"


def test_write_file_description_asks_for_pieces(registry: ToolRegistry) -> None:
    tool = registry.get("write_file")
    assert tool is not None
    assert "write the first piece with mode 'overwrite'" in tool.description


def test_duplicate_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        ToolRegistry([_tool("a", lambda a, c: ""), _tool("a", lambda a, c: "")])


def test_unknown_tool_lists_available_tools(registry: ToolRegistry, ctx: ToolContext) -> None:
    outcome = run(registry, ctx, "rm_everything")
    assert outcome.is_error
    assert "unknown tool 'rm_everything'" in outcome.content
    assert "read_file" in outcome.content and "terminal" in outcome.content


def test_schema_mismatch_names_the_field(registry: ToolRegistry, ctx: ToolContext) -> None:
    outcome = run(registry, ctx, "patch", path="a.txt", edits=[{"old": "x", "new": "y"}, {"old": 3, "new": "z"}])
    assert outcome.is_error
    assert "edits[1].old: 3 is not of type 'string'" in outcome.content
    missing = run(registry, ctx, "read_file")
    assert "arguments: 'path' is a required property" in missing.content


def test_handler_exceptions_become_error_outcomes(ctx: ToolContext) -> None:
    def boom(arguments: dict[str, Any], context: ToolContext) -> str:
        raise RuntimeError("disk on fire")

    def refuse(arguments: dict[str, Any], context: ToolContext) -> str:
        raise ToolError("no can do")

    registry = ToolRegistry([_tool("boom", boom), _tool("refuse", refuse)])
    crashed = registry.execute("boom", {}, ctx)
    assert crashed == ToolOutcome(
        content="tool boom failed: RuntimeError: disk on fire",
        is_error=True,
        summary="error: tool boom failed: RuntimeError: disk on fire",
    )
    assert "Traceback" not in crashed.content
    refused = registry.execute("refuse", {}, ctx)
    assert refused.is_error and refused.content == "no can do"


def test_null_arguments_count_as_empty(ctx: ToolContext) -> None:
    registry = ToolRegistry([_tool("ping", lambda a, c: "pong")])
    outcome = registry.execute("ping", None, ctx)  # type: ignore[arg-type]
    assert outcome == ToolOutcome(content="pong", is_error=False, summary="1 line")


def test_output_backstop_caps_a_tool_that_forgot(tmp_path: Path) -> None:
    registry = ToolRegistry([_tool("flood", lambda a, c: "x" * 10_000)])
    outcome = registry.execute("flood", {}, ToolContext(workdir=tmp_path, max_output_chars=100))
    assert len(outcome.content) < 1_200
    assert "more characters not shown" in outcome.content


def test_target_of() -> None:
    assert target_of({"path": "a.txt", "command": "ls"}) == "a.txt"
    assert target_of({"command": "ls -la"}) == "ls -la"
    assert target_of({"pattern": "x"}) is None
    assert target_of({"path": 3}) is None


def test_context_resolves_workdir(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    assert ToolContext(workdir=tmp_path / "sub" / "..").workdir == tmp_path.resolve()


# --- validate_arguments ----------------------------------------------------------------


SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "path": {"type": "string", "minLength": 1},
        "mode": {"type": "string", "enum": ["a", "b"]},
        "count": {"type": "integer", "minimum": 1, "maximum": 10},
        "ratio": {"type": "number"},
        "flag": {"type": "boolean"},
        "maybe": {"type": ["string", "null"]},
        "items": {"type": "array", "items": {"type": "object", "required": ["x"]}},
    },
    "required": ["path"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ({}, "arguments: 'path' is a required property"),
        ([], "arguments: [] is not of type 'object'"),
        ({"path": ""}, "path: '' should be non-empty (minLength: 1)"),
        ({"path": "p", "mode": "c"}, "mode: 'c' is not one of ['a', 'b']"),
        ({"path": "p", "count": 0}, "count: 0 is less than the minimum of 1"),
        ({"path": "p", "count": 11}, "count: 11 is greater than the maximum of 10"),
        ({"path": "p", "count": 1.5}, "count: 1.5 is not of type 'integer'"),
        ({"path": "p", "count": True}, "count: True is not of type 'integer'"),
        ({"path": "p", "ratio": "1"}, "ratio: '1' is not of type 'number'"),
        ({"path": "p", "flag": 1}, "flag: 1 is not of type 'boolean'"),
        ({"path": "p", "maybe": 1}, "maybe: 1 is not of type 'string', 'null'"),
        ({"path": "p", "items": [{"x": 1}, {}]}, "items[1]: 'x' is a required property"),
        ({"path": "p", "extra": 1}, "arguments: Additional properties are not allowed ('extra' was unexpected)"),
    ],
)
def test_validate_reports_readable_errors(value: Any, error: str) -> None:
    errors = validate_arguments(SCHEMA, value)
    assert any(error in message for message in errors), errors


def test_validate_accepts_valid_values() -> None:
    value = {"path": "p", "mode": "a", "count": 2.0, "ratio": 3, "flag": False, "maybe": None, "items": []}
    assert validate_arguments(SCHEMA, value) == []


# --- hand-written schemas: the whole of JSON Schema, not a subset --------------------------

# Keywords the former hand-made validator ignored; each value in "bad" was let through then.
KEYWORDS: list[tuple[dict[str, Any], Any, Any, str]] = [
    ({"type": "string", "pattern": "^[a-z]+$"}, "abc", "ABC", "value: 'ABC' does not match '^[a-z]+$'"),
    # anyOf/oneOf: the alternative the value came closest to, else what each alternative wanted.
    (
        {"anyOf": [{"type": "integer"}, {"type": "string", "minLength": 2}]},
        "ab",
        "a",
        "value: 'a' is too short (minLength: 2)",
    ),
    (
        {"anyOf": [{"type": "integer"}, {"type": "boolean"}]},
        3,
        "3",
        "value: '3' is not of type 'integer' and '3' is not of type 'boolean'",
    ),
    ({"oneOf": [{"type": "integer"}, {"minimum": 0}]}, -1, 1, "value: 1 is valid under each of"),
    ({"type": "string", "maxLength": 3}, "abc", "abcd", "value: 'abcd' is too long (maxLength: 3)"),
    ({"type": "string", "minLength": 2}, "ab", "a", "value: 'a' is too short (minLength: 2)"),
    ({"type": "array", "minItems": 1}, [1], [], "value: [] should be non-empty (minItems: 1)"),
    ({"type": "array", "maxItems": 1}, [1], [1, 2], "value: [1, 2] is too long (maxItems: 1)"),
    ({"type": "array", "items": {"enum": ["r", "w"]}}, ["r"], ["r", "x"], "value[1]: 'x' is not one of ['r', 'w']"),
    ({"const": "yes"}, "yes", "no", "value: 'yes' was expected"),
    ({"type": "string", "format": "date"}, "2024-02-29", "2024-02-30", "value: '2024-02-30' is not a 'date'"),
    ({"type": "object", "additionalProperties": {"type": "integer"}}, {"a": 1}, {"a": "1"}, "value.a: '1' is not of"),
    ({"type": "integer", "multipleOf": 5}, 10, 12, "value: 12 is not a multiple of 5"),
    ({"type": "array", "uniqueItems": True}, [1, 2], [1, 1], "value: [1, 1] has non-unique elements"),
]


@pytest.mark.parametrize(("schema", "good", "bad", "error"), KEYWORDS)
def test_hand_written_schema_keywords_are_enforced_by_the_registry(
    ctx: ToolContext, schema: dict[str, Any], good: Any, bad: Any, error: str
) -> None:
    calls: list[Any] = []

    def record(arguments: dict[str, Any], context: ToolContext) -> str:
        calls.append(arguments["value"])
        return "ok"

    registry = ToolRegistry([_tool("t", record, {"type": "object", "properties": {"value": schema}})])
    assert registry.execute("t", {"value": good}, ctx) == ToolOutcome("ok", False, "1 line")
    outcome = registry.execute("t", {"value": bad}, ctx)
    assert outcome.is_error and outcome.content.startswith("invalid arguments for t: "), outcome.content
    assert error in outcome.content
    assert calls == [good]


def test_a_long_value_is_quoted_back_shortened(ctx: ToolContext) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string", "pattern": "^[a-z]*$"}}}
    registry = ToolRegistry([_tool("t", lambda a, c: "ok", schema)])
    outcome = registry.execute("t", {"name": "X" * 10_000}, ctx)
    assert outcome.is_error and "does not match '^[a-z]*$'" in outcome.content
    assert len(outcome.content) < 200


def test_a_schema_that_is_not_json_schema_is_refused_when_the_registry_is_built() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "int"}}}
    with pytest.raises(ValueError, match=r"tool 't': its schema is not a valid JSON Schema: .*properties.n.type"):
        ToolRegistry([_tool("t", lambda a, c: "ok", schema)])


def test_a_reference_outside_the_schema_is_refused_never_fetched() -> None:
    schema = {"type": "object", "properties": {"n": {"$ref": "https://example.invalid/n.json"}}}
    with pytest.raises(ValueError, match=r"tool 't': its schema is not self-contained: \$ref 'https://example"):
        ToolRegistry([_tool("t", lambda a, c: "ok", schema)])


def test_a_reference_that_leads_nowhere_is_an_error_outcome(ctx: ToolContext) -> None:
    schema = {"type": "object", "properties": {"n": {"$ref": "#/$defs/missing"}}}
    registry = ToolRegistry([_tool("t", lambda a, c: "ok", schema)])
    outcome = registry.execute("t", {"n": 1}, ctx)
    assert outcome.is_error
    assert outcome.content.startswith("tool t cannot run, its schema is broken (")
    assert "/$defs/missing" in outcome.content and outcome.content.endswith("); do not call it again")


def test_importing_the_tools_loads_neither_pydantic_nor_jsonschema() -> None:
    probe = "import json, sys, tools, tools.decorator; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    loaded = {name.split(".")[0] for name in json.loads(done.stdout)}
    assert "tools" in loaded
    assert not loaded & {"pydantic", "pydantic_core", "jsonschema"}


# --- path confinement ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/../../x", "~/x", "sub/../../.."])
def test_paths_outside_the_workdir_are_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(ToolError, match="outside the working directory"):
        resolve_in_workdir(tmp_path, path)


def test_paths_inside_the_workdir_resolve(tmp_path: Path) -> None:
    root = tmp_path.resolve()
    assert resolve_in_workdir(tmp_path, "a/b.txt") == root / "a" / "b.txt"
    assert resolve_in_workdir(tmp_path, str(root / "c.txt")) == root / "c.txt"
    assert resolve_in_workdir(tmp_path, "a/../d.txt") == root / "d.txt"
    assert resolve_in_workdir(tmp_path, ".") == root


def test_empty_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="empty"):
        resolve_in_workdir(tmp_path, "  ")


def test_symlinks_pointing_outside_are_refused(tmp_path: Path) -> None:
    work, outside = tmp_path / "work", tmp_path / "outside"
    work.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (work / "link.txt").symlink_to(outside / "secret.txt")
    (work / "linkdir").symlink_to(outside, target_is_directory=True)
    (work / "dangling").symlink_to(outside / "new.txt")
    for path in ("link.txt", "linkdir/secret.txt", "linkdir/new.txt", "dangling"):
        with pytest.raises(ToolError, match="outside"):
            resolve_in_workdir(work, path)


def test_symlinks_inside_the_workdir_are_fine(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)
    assert resolve_in_workdir(tmp_path, "alias/f.txt") == tmp_path.resolve() / "real" / "f.txt"


def test_file_tools_refuse_escapes(registry: ToolRegistry, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    ctx = ToolContext(workdir=work)
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    (work / "link").symlink_to(outside)
    attempts: list[tuple[str, dict[str, Any]]] = [
        ("write_file", {"path": "../outside.txt", "content": "x"}),
        ("write_file", {"path": "link", "content": "x"}),
        ("patch", {"path": "link", "edits": [{"old": "keep", "new": "lost"}]}),
        ("read_file", {"path": str(outside)}),
        ("list_dir", {"path": ".."}),
        ("search_files", {"pattern": "keep", "path": ".."}),
    ]
    for name, arguments in attempts:
        outcome = registry.execute(name, arguments, ctx)
        assert outcome.is_error and "outside the working directory" in outcome.content, name
    assert outside.read_text() == "keep"


def test_tools_import_the_standard_library_pydantic_and_jsonschema_only() -> None:
    # Never the agent: the agent imports the tools, not the other way round.
    tools_dir = Path(__file__).resolve().parents[2] / "tools"
    sources = sorted(tools_dir.glob("*.py"))
    assert sources
    for source in sources:
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                allowed = top in sys.stdlib_module_names or top in ("tools", "pydantic", "jsonschema")
                assert allowed, f"{source.name} imports {module}"
