"""``@tool``: a typed Python function as a ``Tool``, for any parameter types pydantic can validate
and describe, with descriptions from docstrings and ``Annotated[X, "text"]``. A type with no flat
JSON schema fails at decoration time (``TypeError`` naming the parameter), never mid-turn."""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import typing
from collections.abc import Callable
from itertools import takewhile
from typing import Annotated, Any, Literal, NotRequired, Required, Union, get_args, get_origin, overload

from tools.base import Tool, ToolContext, ToolError
from tools.schema import field_path

__all__ = ["DocstringInfo", "parse_docstring", "tool"]

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what both wires accept as a tool name
_PARAMS = r"args|arguments|parameters|params|attributes|keyword arg(?:ument)?s"
_HEADER_RE = re.compile(rf"(?:{_PARAMS}|returns?|yields?|raises|examples?|notes?|warnings?|see also)\s*:", re.I)
_SECTION_RE = re.compile(rf"^(?:{_PARAMS})[ \t]*:[ \t]*((?:\n(?!\S).*)*)", re.M | re.I)  # up to an unindented line
# "name (type): text", then the lines indented deeper than the name (or blank).
_ENTRY_RE = re.compile(r"^([ \t]+)\*{0,2}(\w+)[ \t]*(?:\([^)]*\))?[ \t]*:(.*(?:\n(?:\1[ \t].*|[ \t]*$))*)", re.M)
_DATA = frozenset({"default", "enum", "const", "examples"})  # their values are data, not schemas
_Function = Callable[..., Any]


@dataclasses.dataclass(frozen=True, slots=True)
class DocstringInfo:
    """What ``parse_docstring`` found: the summary paragraph and per-parameter text."""

    summary: str
    params: dict[str, str]


def parse_docstring(doc: str | None) -> DocstringInfo:
    """Read a Google-style docstring: the first paragraph (lines joined by spaces) and the entries,
    continuation lines included, of its ``Args:`` (``Parameters:``, ``Attributes:``...) sections."""
    text = inspect.cleandoc(doc or "")
    summary = takewhile(lambda line: line and not _HEADER_RE.fullmatch(line), map(str.strip, text.splitlines()))
    entries = (entry for section in _SECTION_RE.findall(text) for entry in _ENTRY_RE.findall(section))
    return DocstringInfo(" ".join(summary), {name: " ".join(entry.split()) for _, name, entry in entries})


# -- the decorator -------------------------------------------------------------------
@overload
def tool(
    fn: _Function, *, name: str | None = None, description: str | None = None, side_effects: bool = False
) -> Tool: ...


@overload
def tool(
    fn: None = None, *, name: str | None = None, description: str | None = None, side_effects: bool = False
) -> Callable[[_Function], Tool]: ...


def tool(
    fn: _Function | None = None, *, name: str | None = None, description: str | None = None, side_effects: bool = False
) -> Tool | Callable[[_Function], Tool]:
    """Turn a typed function into a ``Tool``: ``@tool`` or ``@tool(side_effects=True)``; ``name`` and
    ``description`` default to the function's name and docstring. The handler converts the arguments to
    the parameters' types, passes the ``ToolContext`` to a parameter annotated with it, and returns a
    ``str`` as is, ``None`` as ``"done"``, anything else as JSON."""
    if fn is None:
        return lambda function: tool(function, name=name, description=description, side_effects=side_effects)
    # Lazy, as all of pydantic: keeps stayline --help fast.
    from pydantic import PydanticUserError, TypeAdapter, ValidationError

    tool_name = name or str(getattr(fn, "__name__", ""))
    if not _NAME_RE.match(tool_name):
        raise ValueError(f"invalid tool name {tool_name!r}: use 1-64 letters, digits, '_' or '-' (pass name=...)")
    if inspect.iscoroutinefunction(fn):
        raise TypeError(f"tool {tool_name}: async functions are not supported, the handler is synchronous")
    doc, hints = parse_docstring(inspect.getdoc(fn)), _hints(fn, f"tool {tool_name}")
    params, entries = list(inspect.signature(fn).parameters.values()), []
    for param in params:
        where = f"tool {tool_name}: parameter {param.name!r}"
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"{where}: *args and **kwargs are not supported")
        if param.name not in hints:
            raise TypeError(f"{where} has no type annotation")
        options = _field_options(param, doc)
        if hints[param.name] is not ToolContext:
            try:  # one parameter at a time, to name the one pydantic cannot describe
                entries.append((param.name, _prepare(hints[param.name], where, ()), options))
                _flatten(TypeAdapter(entries[-1][1]).json_schema(), where)
            except (PydanticUserError, NameError) as exc:
                shown, reason = inspect.formatannotation(hints[param.name]), str(getattr(exc, "message", exc))
                # The first sentence says what; the rest is advice on pydantic's own hooks.
                raise TypeError(f"{where}: no JSON schema for {shown}: {reason.partition('. ')[0]}") from None
    arguments: TypeAdapter[dict[str, Any]] = TypeAdapter(_object("arguments", entries, None))
    context = [param.name for param in params if hints[param.name] is ToolContext]
    positional = [param for param in params if param.kind is param.POSITIONAL_ONLY]

    def handler(given: dict[str, Any], ctx: ToolContext) -> str:
        try:
            values = arguments.validate_python(given) | dict.fromkeys(context, ctx)
        except ValidationError as exc:
            problems = "; ".join(f"{field_path(error['loc'])}: {error['msg']}" for error in exc.errors())
            raise ToolError(f"invalid arguments for {tool_name}: {problems}") from None
        # A positional-only parameter left out takes its default: a later one may follow.
        args = [values.pop(param.name, param.default) for param in positional]
        return _render(fn(*args, **values))

    schema = _flatten(arguments.json_schema(), f"tool {tool_name}")
    return Tool(tool_name, doc.summary if description is None else description, schema, handler, side_effects)


def _render(result: Any) -> str:
    if result is None or isinstance(result, str):
        return "done" if result is None else result
    return json.dumps(result, ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) and not isinstance(value, type) else str(value)


# -- type hints -> pydantic -> a flat JSON schema ----------------------------------------
def _prepare(hint: Any, where: str, stack: tuple[type, ...]) -> Any:
    """``hint`` as pydantic should see it: ``Annotated`` strings as descriptions, each ``typing.TypedDict``
    as a model (before 3.12 pydantic takes only ``typing_extensions``'), no ``Literal`` JSON cannot carry."""
    from pydantic import Field

    origin, args = get_origin(hint), get_args(hint)
    if origin is Literal and not all(type(value) in (str, int, float, bool, type(None)) for value in args):
        raise TypeError(f"{where}: {inspect.formatannotation(hint)} has a value that is not a JSON scalar")
    # pydantic reads a dataclass's fields itself: only check them.
    if isinstance(hint, type) and dataclasses.is_dataclass(hint) and hint not in stack:
        for value in typing.get_type_hints(hint, include_extras=True).values():
            _prepare(value, where, (*stack, hint))
    if typing.is_typeddict(hint) and type(hint).__module__ == "typing":
        if hint in stack:
            raise TypeError(f"{where}: recursive type {hint.__name__} has no flat JSON schema")
        entries = []
        for key, value in typing.get_type_hints(hint, include_extras=True).items():
            marker = get_origin(value)  # explicit markers win: Python 3.11 may misfile string annotations
            required = marker is Required or (marker is not NotRequired and key in hint.__required_keys__)
            bare = get_args(value)[0] if marker in (Required, NotRequired) else value
            entries.append((key, _prepare(bare, where, (*stack, hint)), {} if required else {"default_factory": dict}))
        return _object(hint.__name__, entries, hint.__doc__)
    new = tuple(_prepare(arg, where, stack) for arg in args)
    if origin is Annotated:
        return Annotated[(new[0], *(Field(description=m) if isinstance(m, str) else m for m in args[1:]))]
    return hint if new == args else (Union if origin is type(int | str) else origin)[new if len(args) > 1 else new[0]]


def _object(name: str, entries: list[tuple[str, Any, dict[str, Any]]], doc: str | None) -> Any:
    """A pydantic model of one JSON object whose value is the dict of the keys sent."""
    from pydantic import AfterValidator, ConfigDict, Field, create_model

    # The alias carries the key: "schema" or "_x" cannot be the names of a model's fields.
    keys = {f"field{i}": key for i, (key, _, _) in enumerate(entries)}
    fields: dict[str, Any] = {f"field{i}": (hint, Field(alias=key, **kw)) for i, (key, hint, kw) in enumerate(entries)}
    model = create_model(name, __config__=ConfigDict(extra="forbid"), __doc__=doc, **fields)
    return Annotated[model, AfterValidator(lambda value: {keys[f]: getattr(value, f) for f in value.model_fields_set})]


def _field_options(param: inspect.Parameter, doc: DocstringInfo) -> dict[str, Any]:
    # A parameter's field besides its type: its text from the docstring, and its default. Only the
    # arguments sent are passed, so the function's own default applies; the schema shows it if JSON can.
    options: dict[str, Any] = {"description": doc.params[param.name]} if param.name in doc.params else {}
    if param.default is param.empty:
        return options
    try:
        shown = {"default": json.loads(json.dumps(param.default, allow_nan=False))}
    except (TypeError, ValueError):
        shown = {}  # not expressible in JSON: the function's own default still applies
    return options | {"default_factory": dict, "json_schema_extra": shown}


def _flatten(schema: dict[str, Any], where: str) -> dict[str, Any]:
    """``schema`` with each ``$ref`` inlined (several providers refuse them), no ``title`` pydantic made
    from a name (the same bytes every run), an object's docstring read as above, no unknown keys."""
    definitions = schema.pop("$defs", {})

    def inline(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [inline(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        # A str "title" is pydantic's; a field may be called "title" too.
        node = {k: v if k in _DATA else inline(v, seen) for k, v in node.items() if k != "title" or type(v) is not str}
        if "properties" in node:
            doc = parse_docstring(node.pop("description", None))
            node |= {"description": doc.summary} if doc.summary else {}
            for key in doc.params.keys() & node["properties"].keys():
                node["properties"][key].setdefault("description", doc.params[key])
            node.setdefault("additionalProperties", False)
        name = node.pop("$ref", "").rsplit("/", 1)[-1]
        if name in seen:
            raise TypeError(f"{where}: recursive type {definitions[name].get('title', name)} has no flat JSON schema")
        return {**inline(definitions[name], (*seen, name)), **node} if name else node

    return dict(inline(schema, ()))


# -- helpers --------------------------------------------------------------------------
def _hints(fn: _Function, where: str) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except (NameError, TypeError) as exc:
        word = re.compile(rf"\b{re.escape(getattr(exc, 'name', None) or chr(0))}\b")
        culprit = next((name for name, hint in inspect.get_annotations(fn).items() if word.search(str(hint))), None)
        where += f": parameter {culprit!r}" if culprit else ""
        raise TypeError(f"{where}: cannot resolve a type hint ({exc}); define the types used at module level") from exc
