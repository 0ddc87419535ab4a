"""``@tool``: schemas generated from type hints and docstrings, and the handler it builds."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, NotRequired, Optional, Required, TypedDict
from uuid import UUID

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
INT, STR = {"type": "integer"}, {"type": "string"}


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
        "invalid arguments for pick: count: 0 is less than the minimum of 1; word: 'abcd' is too long (maxLength: 3)"
    )


# --- any type pydantic can validate and describe works end to end ---------------------------


@dataclass
class Box:
    corner: tuple[int, int]
    when: datetime


SUPPORTED: list[tuple[str, dict[str, Any], Any, Any]] = [
    # annotation, its schema (flattened), a value the model sends, what the function receives
    ("tuple[int, int]", {"type": "array", "prefixItems": [INT, INT], "minItems": 2, "maxItems": 2}, [1, 2], (1, 2)),
    ("tuple[str, ...]", {"type": "array", "items": STR}, ["a", "b"], ("a", "b")),
    ("set[int]", {"type": "array", "items": INT, "uniqueItems": True}, [3, 1], {1, 3}),
    ("frozenset[str]", {"type": "array", "items": STR, "uniqueItems": True}, ["a"], frozenset({"a"})),
    ("list[set[int]]", {"type": "array", "items": {"type": "array", "items": INT, "uniqueItems": True}}, [[1]], [{1}]),
    ("list", {"type": "array", "items": {}}, [1, "a"], [1, "a"]),
    ("dict", {"type": "object", "additionalProperties": True}, {"a": 1}, {"a": 1}),
    ("dict[int, str]", {"type": "object", "additionalProperties": STR}, {"1": "a"}, {1: "a"}),
    ("int | str", {"anyOf": [INT, STR]}, "x", "x"),
    ("int | str", {"anyOf": [INT, STR]}, 7, 7),
    ("Any", {}, {"free": ["form"]}, {"free": ["form"]}),
    ("Path", {"type": "string", "format": "path"}, "a/b.txt", Path("a/b.txt")),
    (
        "datetime",
        {"type": "string", "format": "date-time"},
        "2024-05-01T12:30:00Z",
        datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
    ),
    ("date", {"type": "string", "format": "date"}, "2024-02-29", date(2024, 2, 29)),
    ("UUID", {"type": "string", "format": "uuid"}, str(UUID(int=1)), UUID(int=1)),
    ("Annotated[str, Field(pattern='^[a-z]+$')]", {"type": "string", "pattern": "^[a-z]+$"}, "abc", "abc"),
    (
        "Box",
        {
            "type": "object",
            "properties": {
                "corner": {"type": "array", "prefixItems": [INT, INT], "minItems": 2, "maxItems": 2},
                "when": {"type": "string", "format": "date-time"},
            },
            "required": ["corner", "when"],
            "additionalProperties": False,
        },
        {"corner": [0, 5], "when": "2024-05-01T12:30:00+00:00"},
        Box((0, 5), datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
    ),
]


@pytest.mark.parametrize(("annotation", "schema", "sent", "received"), SUPPORTED)
def test_a_type_pydantic_handles_works_through_the_registry(
    ctx: ToolContext, annotation: str, schema: dict[str, Any], sent: Any, received: Any
) -> None:
    seen: list[Any] = []
    namespace: dict[str, Any] = {**globals(), "seen": seen}  # the function's globals: its hints resolve there
    exec(f"def f(value: {annotation}) -> None:\n    seen.append(value)", namespace)
    made = tool(namespace["f"])
    assert made.schema == params_schema({"value": schema}, ["value"])
    assert run(made, ctx, value=sent) == ("done", False)
    assert seen == [received] and type(seen[0]) is type(received)


def test_a_value_of_a_supported_type_is_still_checked(ctx: ToolContext) -> None:
    @tool
    def f(corner: tuple[int, int], tags: set[str], when: datetime | None = None) -> None:
        """F."""

    content, is_error = run(f, ctx, corner=[1, 2, 3], tags=["a", "a"], when=3)
    assert is_error
    assert "corner: [1, 2, 3] is too long (maxItems: 2)" in content
    assert "tags: ['a', 'a'] has non-unique elements" in content
    assert "when: 3 is not of type 'string' and 3 is not of type 'null'" in content
    # What the schema leaves to the format (jsonschema checks "date-time" only with an extra package), pydantic checks.
    content, is_error = run(f, ctx, corner=[1, 2], tags=[], when="soon")
    assert (content, is_error) == (
        "invalid arguments for f: when: Input should be a valid datetime or date, input is too short",
        True,
    )


# --- what has no flat JSON schema fails at decoration time, naming the parameter -------------


class Opaque:
    """A class pydantic knows nothing about."""


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        ("Opaque", r"parameter 'value': no JSON schema for .*Opaque: Unable to generate pydantic-core schema"),
        ("list[Callable[[int], int]]", r"parameter 'value': no JSON schema for list\[.*Callable\[\[int\], int\]\]: "),
        ("Node", r"parameter 'value': recursive type Node has no flat JSON schema"),
    ],
)
def test_a_type_without_a_flat_json_schema_is_a_type_error(annotation: str, message: str) -> None:
    namespace: dict[str, Any] = {**globals(), "Callable": Callable}
    exec(f"def f(value: {annotation}) -> None: ...", namespace)
    with pytest.raises(TypeError, match=rf"^tool f: {message}"):
        tool(namespace["f"])


def test_a_literal_of_values_json_cannot_carry_is_a_type_error() -> None:
    # pydantic would accept them, but no JSON value the model writes could ever match.
    def f(mode: Literal[b"r", "w"]) -> None: ...

    with pytest.raises(TypeError, match=r"tool f: parameter 'mode': Literal\[b'r', 'w'\] has a value that is not"):
        tool(f)


@dataclass
class Access:
    mode: Literal["r", b"w"]


def test_such_a_literal_is_found_inside_a_dataclass_too() -> None:
    def f(access: list[Access]) -> None: ...

    with pytest.raises(TypeError, match=r"tool f: parameter 'access': Literal\['r', b'w'\] has a value that is not"):
        tool(f)


def test_a_dataclass_field_without_a_json_schema_names_the_parameter_and_the_type() -> None:
    @dataclass
    class Holder:
        callback: Opaque

    namespace: dict[str, Any] = {"Holder": Holder}
    exec("def f(box: list[Holder]) -> None: ...", globals() | namespace, namespace)
    with pytest.raises(TypeError, match=r"tool f: parameter 'box': no JSON schema for list\[.*Holder\]: .*Opaque"):
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
    assert "segment.start.x: '1' is not of type 'number'" in content
    assert "segment.start: Additional properties are not allowed ('z' was unexpected)" in content
    assert "mode: 'dots' is not one of ['fill', 'line']" in content
    content, is_error = run(draw, ctx, segment={"start": {"x": 1, "y": 2}}, color="red")
    assert is_error and "arguments: Additional properties are not allowed ('color' was unexpected)" in content
    content, is_error = run(draw, ctx)
    assert is_error and "arguments: 'segment' is a required property" in content
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
    assert content == "invalid arguments for place: points.a.x: 'one' is not of type 'number'"


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
