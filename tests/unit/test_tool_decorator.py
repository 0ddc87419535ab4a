"""``@tool``: schemas generated from type hints and docstrings, and the handler it builds."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, NotRequired, Optional, Required, TypedDict

import pytest
from pydantic import Field

from tools.base import Tool, ToolContext, ToolError, ToolRegistry
from tools.decorator import DocstringInfo, parse_docstring, tool

# --- types used by the tools under test (module level, so their hints resolve) ----------


@dataclass
class Point:
    """A point on the plane.

    Attributes:
        x: Horizontal position.
        y: Vertical position.
    """

    x: float
    y: float
    label: str = "origin"
    tags: list[str] = field(default_factory=list)


@dataclass
class Segment:
    start: Point
    end: Point | None = None


class Address(TypedDict):
    street: str
    number: int
    flat: NotRequired[str]


class Filters(TypedDict, total=False):
    """Optional search filters.

    Args:
        kind: File kind.
    """

    kind: Literal["file", "dir"]
    min_size: int
    owner: Required[str]


@dataclass
class Node:
    name: str
    children: list[Node] = field(default_factory=list)


OBJECT = {"type": "object", "additionalProperties": False}
NULL = {"type": "null"}


def nullable(schema: dict[str, Any], **outer: Any) -> dict[str, Any]:
    """``X | None`` as pydantic writes it: ``anyOf`` the two, with description and default outside."""
    return {"anyOf": [schema, NULL], **outer}


def params_schema(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(workdir=tmp_path)


def run(t: Tool, ctx: ToolContext, **arguments: Any) -> tuple[str, bool]:
    outcome = ToolRegistry([t]).execute(t.name, arguments, ctx)
    return outcome.content, outcome.is_error


# --- schemas: one annotation at a time -----------------------------------------------------


def test_scalars_and_descriptions_from_docstring() -> None:
    @tool
    def greet(name: str, times: int, loudness: float, shout: bool) -> str:
        """Greet someone
        several times.

        A second paragraph that is not part of the description.

        Args:
            name: Who to greet.
            times (int): How many greetings;
                at least one.
            loudness: Volume.

        Returns:
            The greeting.
        """
        return name

    assert isinstance(greet, Tool)
    assert greet.name == "greet"
    assert greet.description == "Greet someone several times."
    assert greet.side_effects is False
    assert greet.schema == params_schema(
        {
            "name": {"type": "string", "description": "Who to greet."},
            "times": {"type": "integer", "description": "How many greetings; at least one."},
            "loudness": {"type": "number", "description": "Volume."},
            "shout": {"type": "boolean"},
        },
        ["name", "times", "loudness", "shout"],
    )


def test_lists_and_dicts() -> None:
    @tool
    def f(names: list[str], grid: list[list[int]], scores: dict[str, float], groups: dict[str, list[str]]) -> None:
        """F."""

    assert f.schema == params_schema(
        {
            "names": {"type": "array", "items": {"type": "string"}},
            "grid": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
            "scores": {"type": "object", "additionalProperties": {"type": "number"}},
            "groups": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
        },
        ["names", "grid", "scores", "groups"],
    )


def test_literals_take_the_type_of_their_values() -> None:
    # pydantic's shapes: one value is a "const", values of mixed types carry no "type".
    @tool
    def f(mode: Literal["r", "w"], level: Literal[1, 2, 3], mixed: Literal["auto", 0], flag: Literal[True]) -> None:
        """F."""

    assert f.schema["properties"] == {
        "mode": {"type": "string", "enum": ["r", "w"]},
        "level": {"type": "integer", "enum": [1, 2, 3]},
        "mixed": {"enum": ["auto", 0]},
        "flag": {"type": "boolean", "const": True},
    }


def test_optional_and_defaults() -> None:
    @tool
    def f(
        a: str | None,
        b: Optional[int] = None,  # noqa: UP045 - the typing spelling must work too
        c: int = 3,
        d: Literal["x", "y"] | None = "x",
        e: list[str] | None = None,
        g: list[int] = (1, 2),  # type: ignore[assignment]  # a tuple default becomes a JSON list
        ratio: float = float("inf"),  # not valid JSON: no "default"
        origin: Point | None = Point(0, 0),  # noqa: B008 - not JSON either
    ) -> None:
        """F."""

    point = f.schema["properties"]["origin"]
    assert "default" not in point and point["anyOf"][0]["type"] == "object" and point["anyOf"][1] == NULL
    assert f.schema == params_schema(
        {
            "a": nullable({"type": "string"}),
            "b": nullable({"type": "integer"}, default=None),
            "c": {"type": "integer", "default": 3},
            "d": nullable({"type": "string", "enum": ["x", "y"]}, default="x"),
            "e": nullable({"type": "array", "items": {"type": "string"}}, default=None),
            "g": {"type": "array", "items": {"type": "integer"}, "default": [1, 2]},
            "ratio": {"type": "number"},
            "origin": point,
        },
        ["a"],
    )


def test_dataclass_argument_schema() -> None:
    @tool
    def draw(segment: Segment, points: list[Point]) -> None:
        """Draw."""

    point = {
        "type": "object",
        "description": "A point on the plane.",
        "properties": {
            "x": {"type": "number", "description": "Horizontal position."},
            "y": {"type": "number", "description": "Vertical position."},
            "label": {"type": "string", "default": "origin"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["x", "y"],
        "additionalProperties": False,
    }
    segment = {
        "type": "object",
        "properties": {"start": point, "end": nullable(point, default=None)},
        "required": ["start"],
        "additionalProperties": False,
    }
    assert draw.schema == params_schema(
        {"segment": segment, "points": {"type": "array", "items": point}}, ["segment", "points"]
    )


def test_typeddict_argument_schema() -> None:
    @tool
    def find(address: Address, filters: Filters | None = None) -> None:
        """Find.

        Args:
            filters: What to keep.
        """

    address = {
        "type": "object",
        "properties": {
            "street": {"type": "string"},
            "number": {"type": "integer"},
            "flat": {"type": "string"},
        },
        "required": ["street", "number"],
        "additionalProperties": False,
    }
    filters = {
        "type": "object",
        "description": "Optional search filters.",
        "properties": {
            "kind": {"type": "string", "enum": ["file", "dir"], "description": "File kind."},
            "min_size": {"type": "integer"},
            "owner": {"type": "string"},
        },
        "required": ["owner"],
        "additionalProperties": False,
    }
    filters_or_none = nullable(filters, description="What to keep.", default=None)
    assert find.schema == params_schema({"address": address, "filters": filters_or_none}, ["address"])


def test_annotated_description_and_context_parameter_left_out() -> None:
    @tool(name="read_it", description="Read a thing.", side_effects=True)
    def read(path: Annotated[str, "File to read."], ctx: ToolContext, limit: int = 10) -> str:
        return str(ctx.workdir / path)

    assert read.name == "read_it"
    assert read.description == "Read a thing."
    assert read.side_effects is True
    assert read.schema == params_schema(
        {
            "path": {"type": "string", "description": "File to read."},
            "limit": {"type": "integer", "default": 10},
        },
        ["path"],
    )


def test_no_parameters_and_no_docstring() -> None:
    @tool
    def ping() -> str:
        return "pong"

    assert ping.description == ""
    assert ping.schema == {"type": "object", "properties": {}, "additionalProperties": False}


def test_schema_is_flat_small_and_the_same_bytes_every_time() -> None:
    def draw(segment: Segment, points: list[Point], filters: Filters | None = None) -> None:
        """Draw."""

    first, second = json.dumps(tool(draw).schema), json.dumps(tool(draw).schema)
    assert first == second
    for keyword in ('"$ref"', '"$defs"', '"title"'):
        assert keyword not in first


def test_other_annotated_metadata_goes_to_pydantic(ctx: ToolContext) -> None:
    @tool
    def pick(count: Annotated[int, Field(ge=1)], word: Annotated[str, "A word.", Field(max_length=3)]) -> str:
        """Pick."""
        return word * count

    assert pick.schema["properties"] == {
        "count": {"type": "integer", "minimum": 1},
        "word": {"type": "string", "maxLength": 3, "description": "A word."},
    }
    assert run(pick, ctx, count=2, word="ab") == ("abab", False)
    content, is_error = run(pick, ctx, count=0, word="abcd")
    assert is_error
    assert content == (
        "invalid arguments for pick: count: must be >= 1, got 0; word: must be at most 3 characters long, got 4"
    )


# --- unsupported annotations fail at decoration time, naming the parameter -------------------


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        ("tuple[int, int]", "parameter 'value': unsupported type annotation tuple[int, int]"),
        ("list", "parameter 'value': unsupported type annotation list (give the item type"),
        ("dict[int, str]", "parameter 'value': dict keys must be str"),
        ("int | str", "parameter 'value': unsupported union"),
        ("Any", "parameter 'value': unsupported type annotation Any"),
        ("Path", "parameter 'value': unsupported type annotation Path"),
        ("list[set[int]]", "parameter 'value': unsupported type annotation set[int]"),
        ("Node", "parameter 'value' (Node.children): recursive type Node"),
    ],
)
def test_unsupported_annotation_is_a_type_error(annotation: str, message: str) -> None:
    namespace: dict[str, Any] = {}
    exec(f"def f(value: {annotation}) -> None: ...", globals(), namespace)
    with pytest.raises(TypeError) as info:
        tool(namespace["f"])
    assert message in str(info.value)
    assert "tool f" in str(info.value)


def test_a_literal_of_values_json_cannot_carry_is_a_type_error() -> None:
    # pydantic would accept them, but no JSON value the model writes could ever match.
    def f(mode: Literal[b"r", "w"]) -> None: ...

    with pytest.raises(TypeError, match=r"tool f: parameter 'mode': Literal\[b'r', 'w'\] has a value that is not"):
        tool(f)


def test_unsupported_field_of_a_dataclass_names_the_field() -> None:
    @dataclass
    class Box:
        corner: tuple[int, int]

    namespace: dict[str, Any] = {"Box": Box}
    exec("def f(box: list[Box]) -> None: ...", globals() | namespace, namespace)
    with pytest.raises(TypeError, match=r"tool f: parameter 'box' \(Box.corner\): unsupported type annotation"):
        tool(namespace["f"])


def test_a_type_hint_that_cannot_be_resolved_names_the_parameter() -> None:
    @dataclass
    class Local:
        x: int

    def f(ok: int, value: Local) -> None: ...

    with pytest.raises(TypeError, match=r"tool f: parameter 'value': cannot resolve a type hint .*'Local'"):
        tool(f)


def test_missing_annotation_and_star_args_and_async_and_bad_name() -> None:
    def untyped(value):  # type: ignore[no-untyped-def]
        return value

    def star(*values: int) -> None: ...

    async def later(value: int) -> None: ...

    with pytest.raises(TypeError, match="parameter 'value' has no type annotation"):
        tool(untyped)
    with pytest.raises(TypeError, match=r"\*args"):
        tool(star)
    with pytest.raises(TypeError, match="async"):
        tool(later)
    with pytest.raises(ValueError, match="invalid tool name"):
        tool(lambda: None)
    assert tool(name="noop")(lambda: None).name == "noop"


# --- the handler ----------------------------------------------------------------------------


def test_dataclass_argument_arrives_as_an_instance(ctx: ToolContext) -> None:
    seen: list[Any] = []

    @tool
    def draw(segment: Segment, points: list[Point], scale: float = 1.0) -> str:
        """Draw."""
        seen.extend([segment, points, scale])
        return "drawn"

    content, is_error = run(
        draw,
        ctx,
        segment={"start": {"x": 1, "y": 2}, "end": {"x": 3.5, "y": 4, "label": "B", "tags": ["t"]}},
        points=[{"x": 0, "y": 0}],
        scale=2,
    )
    assert (content, is_error) == ("drawn", False)
    segment, points, scale = seen
    assert segment == Segment(Point(1.0, 2.0), Point(3.5, 4.0, "B", ["t"]))
    assert isinstance(segment.start, Point) and isinstance(segment.start.x, float)
    assert points == [Point(0.0, 0.0)]
    assert scale == 2.0 and isinstance(scale, float)


def test_typeddict_and_optional_arguments(ctx: ToolContext) -> None:
    @tool
    def find(address: Address, filters: Filters | None = None, limit: int = 5) -> dict[str, Any]:
        """Find."""
        return {"address": address, "filters": filters, "limit": limit}

    content, is_error = run(find, ctx, address={"street": "Main", "number": 3.0})
    assert not is_error
    assert json.loads(content) == {"address": {"street": "Main", "number": 3}, "filters": None, "limit": 5}
    content, _ = run(find, ctx, address={"street": "Main", "number": 3}, filters={"owner": "me"}, limit=1)
    assert json.loads(content)["filters"] == {"owner": "me"}


def test_context_is_passed(ctx: ToolContext) -> None:
    @tool
    def where(ctx: ToolContext, name: str) -> str:
        """Where."""
        return str(ctx.workdir / name)

    assert run(where, ctx, name="a.txt") == (str(ctx.workdir / "a.txt"), False)


def test_positional_only_parameters(ctx: ToolContext) -> None:
    @tool
    def join(a: str, b: str = "-", /, c: str = "!") -> str:
        """Join."""
        return a + b + c

    assert run(join, ctx, a="x") == ("x-!", False)
    assert run(join, ctx, a="x", b="+", c="?") == ("x+?", False)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("text", "text"), (None, "done"), (3, "3"), ([1, "é"], '[1, "é"]'), (Point(1, 2), None), (Path("p"), '"p"')],
)
def test_return_value_to_text(ctx: ToolContext, value: Any, expected: str | None) -> None:
    @tool
    def give() -> Any:
        """Give."""
        return value

    content, is_error = run(give, ctx)
    assert not is_error
    if expected is None:
        assert json.loads(content) == {"x": 1, "y": 2, "label": "origin", "tags": []}
    else:
        assert content == expected


def test_a_raising_function_becomes_an_error_outcome(ctx: ToolContext) -> None:
    @tool
    def boom(value: int) -> str:
        """Boom."""
        raise RuntimeError(f"no {value}")

    @tool
    def refuse() -> str:
        """Refuse."""
        raise ToolError("not allowed here")

    assert run(boom, ctx, value=1) == ("tool boom failed: RuntimeError: no 1", True)
    assert run(refuse, ctx) == ("not allowed here", True)


def test_the_registry_validates_arguments_against_the_generated_schema(ctx: ToolContext) -> None:
    calls: list[Any] = []

    @tool
    def draw(segment: Segment, mode: Literal["fill", "line"] = "line") -> None:
        """Draw."""
        calls.append(segment)

    content, is_error = run(draw, ctx, segment={"start": {"x": "1", "y": 2, "z": 0}}, mode="dots")
    assert is_error
    assert "segment.start.x: expected number, got string" in content
    assert "unexpected field 'z'" in content
    assert "mode: expected one of 'fill', 'line', got 'dots'" in content
    content, is_error = run(draw, ctx, segment={"start": {"x": 1, "y": 2}}, color="red")
    assert is_error and "unexpected field 'color'" in content
    content, is_error = run(draw, ctx)
    assert is_error and "missing required field 'segment'" in content
    assert calls == []


def test_dict_values_are_validated_and_converted(ctx: ToolContext) -> None:
    # Schema-valued additionalProperties: once the hand-made validator's blind spot.
    @tool
    def place(points: dict[str, Point]) -> str:
        """Place."""
        return ",".join(f"{name}={type(p).__name__}" for name, p in points.items())

    assert run(place, ctx, points={"a": {"x": 1, "y": 2}}) == ("a=Point", False)
    content, is_error = run(place, ctx, points={"a": {"x": "one", "y": 2}})
    assert is_error
    assert content == "invalid arguments for place: points.a.x: expected number, got string"


@dataclass
class Title:
    text: str

    def __post_init__(self) -> None:
        if not self.text.strip():
            raise ValueError("the title is blank")


def test_a_value_the_type_itself_refuses_is_an_error_naming_the_field(ctx: ToolContext) -> None:
    @tool
    def name_it(titles: list[Title]) -> str:
        """Name it."""
        return ", ".join(title.text for title in titles)

    assert run(name_it, ctx, titles=[{"text": "a"}]) == ("a", False)
    content, is_error = run(name_it, ctx, titles=[{"text": "a"}, {"text": "  "}])
    assert is_error
    assert content == "invalid arguments for name_it: titles[1]: Value error, the title is blank"


# --- docstrings -----------------------------------------------------------------------------


def test_parse_docstring() -> None:
    doc = """Summary line one
    and two.

    Details that are not the summary.

    Args:
        path (str): The file.
        *args: Extra values,
            over two lines.
        **kwargs: Options.
        mode: One of:

            - r
            - w

    Returns:
        Nothing.

    Raises:
        ValueError: never a parameter.
    """
    assert parse_docstring(doc) == DocstringInfo(
        "Summary line one and two.",
        {"path": "The file.", "args": "Extra values, over two lines.", "kwargs": "Options.", "mode": "One of: - r - w"},
    )


def test_parse_docstring_edge_cases() -> None:
    assert parse_docstring(None) == DocstringInfo("", {})
    assert parse_docstring("") == DocstringInfo("", {})
    assert parse_docstring("Does this:\n\n    more") == DocstringInfo("Does this:", {})
    assert parse_docstring("\nArgs:\n    a: first\n") == DocstringInfo("", {"a": "first"})
    assert parse_docstring("One.\nParameters:\n    a: x\nNotes:\n    b: not a parameter\n").params == {"a": "x"}
