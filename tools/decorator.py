"""``@tool``: a typed Python function as a ``Tool``.

pydantic makes the JSON schema from the type hints and validates and converts the
arguments; descriptions come from the docstring (first paragraph for the tool, a
Google-style ``Args:`` section for the parameters). An annotation the schema cannot express
fails at decoration time (``TypeError`` naming the parameter), never mid-turn. Supported:
``str``, ``int``, ``float``, ``bool``, ``list[X]``, ``dict[str, X]``, ``Literal[...]``,
``X | None``, dataclasses and TypedDicts (nested) and ``Annotated[X, "description"]`` (other
``Annotated`` metadata, e.g. ``pydantic.Field(ge=1)``, goes to pydantic); a ``ToolContext``
parameter receives the context.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from itertools import takewhile
from typing import Annotated, Any, Literal, NotRequired, Optional, Required, Union, get_args, get_origin, overload

from tools.base import Tool, ToolContext, ToolError
from tools.schema import field_path

__all__ = ["DocstringInfo", "parse_docstring", "tool"]

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what both wires accept as a tool name
_SECTION_RE = re.compile(r"^([A-Za-z][A-Za-z ]*):\s*$")
_ENTRY_RE = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_PARAM_SECTIONS = frozenset({"args", "arguments", "parameters", "params", "attributes", "keyword args"})
_OTHER_SECTIONS = "keyword arguments|other parameters|returns|return|yields|raises|example|examples|note|notes|todo"
_SECTIONS = _PARAM_SECTIONS | set(_OTHER_SECTIONS.split("|")) | {"see also", "warning", "warnings", "references"}
# Only what every provider's schema dialect takes and a model writes as plain JSON.
_SCALARS = (str, int, float, bool)
_DATA_KEYS = frozenset({"default", "enum", "const", "examples"})  # their values are data, not schemas
_Function = Callable[..., Any]
# A field of one JSON object: name, type hint, where (for errors), required, default, description.
_Field = tuple[str, Any, str, bool, Any, "str | None"]


@dataclass(frozen=True, slots=True)
class DocstringInfo:
    """What ``parse_docstring`` found: the summary paragraph and per-parameter text."""

    summary: str
    params: dict[str, str]


def parse_docstring(doc: str | None) -> DocstringInfo:
    """Read a Google-style docstring: the first paragraph (lines joined by spaces) and the
    entries of its ``Args:`` (or ``Arguments:``, ``Parameters:``, ``Attributes:``) section,
    continuation lines included. Other sections are ignored."""
    lines = inspect.cleandoc(doc or "").splitlines()
    summary = " ".join(line.strip() for line in takewhile(lambda line: line.strip() and not _section(line), lines))
    params: dict[str, str] = {}
    section = entry_indent = current = None
    for line in lines:
        text, indent = line.strip(), len(line) - len(line.lstrip())
        if indent == 0 and text:
            section, entry_indent, current = _section(line), None, None
        elif section in _PARAM_SECTIONS and text:
            entry_indent = indent if entry_indent is None else entry_indent
            match = _ENTRY_RE.match(text) if indent <= entry_indent else None
            if match:
                current, params[match.group(1)] = match.group(1), match.group(2).strip()
            elif current is not None:
                params[current] = f"{params[current]} {text}".strip()
    return DocstringInfo(summary, params)


def _section(line: str) -> str | None:
    match = _SECTION_RE.match(line.strip())
    return match.group(1).lower() if match and match.group(1).lower() in _SECTIONS else None


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
    """Turn a typed function into a ``Tool``: ``@tool`` or ``@tool(side_effects=True)``.

    ``name`` defaults to the function's name, ``description`` to the first paragraph of
    its docstring. The tool's handler converts dataclass and TypedDict arguments into
    their types, passes the ``ToolContext`` to a parameter annotated with it, and turns
    the result into text: a ``str`` as is, ``None`` as ``"done"``, anything else as JSON.
    Raises ``TypeError`` for an annotation the schema cannot express.
    """

    def build(function: _Function) -> Tool:
        return _build_tool(function, name, description, side_effects)

    return build if fn is None else build(fn)


def _build_tool(fn: _Function, name: str | None, description: str | None, side_effects: bool) -> Tool:
    from pydantic import TypeAdapter, ValidationError  # lazy, as all of pydantic: keeps stayline --help fast

    tool_name = name or str(getattr(fn, "__name__", ""))
    if not _NAME_RE.match(tool_name):
        raise ValueError(f"invalid tool name {tool_name!r}: use 1-64 letters, digits, '_' or '-' (pass name=...)")
    if inspect.iscoroutinefunction(fn):
        raise TypeError(f"tool {tool_name}: async functions are not supported, the handler is synchronous")
    doc, hints = parse_docstring(inspect.getdoc(fn)), _hints(fn, f"tool {tool_name}")
    params = list(inspect.signature(fn).parameters.values())
    fields: list[_Field] = []
    for param in params:
        where = f"tool {tool_name}: parameter {param.name!r}"
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"{where}: *args and **kwargs are not supported")
        if param.name not in hints:
            raise TypeError(f"{where} has no type annotation")
        if hints[param.name] is not ToolContext:
            required = param.default is param.empty
            fields.append((param.name, hints[param.name], where, required, param.default, doc.params.get(param.name)))
    arguments: TypeAdapter[dict[str, Any]] = TypeAdapter(_object("arguments", fields, "", dict, ()))
    context = [param.name for param in params if hints[param.name] is ToolContext]
    positional = [param for param in params if param.kind is param.POSITIONAL_ONLY]

    def handler(given: dict[str, Any], ctx: ToolContext) -> str:
        try:
            values = arguments.validate_python(given)
        except ValidationError as exc:
            problems = "; ".join(f"{field_path(error['loc'])}: {error['msg']}" for error in exc.errors())
            raise ToolError(f"invalid arguments for {tool_name}: {problems}") from None
        values |= dict.fromkeys(context, ctx)
        # A positional-only parameter left out takes its default: a later one may follow.
        args = [values.pop(param.name, param.default) for param in positional]
        return _render(fn(*args, **values))

    return Tool(
        name=tool_name,
        description=description if description is not None else doc.summary,
        schema=_flatten(arguments.json_schema()),
        handler=handler,
        side_effects=side_effects,
    )


def _render(result: Any) -> str:
    if result is None or isinstance(result, str):
        return "done" if result is None else result
    return json.dumps(result, ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) and not isinstance(value, type) else str(value)


# -- type hints -> what pydantic validates ----------------------------------------------
def _prepare(hint: Any, where: str, stack: tuple[type, ...]) -> Any:
    """``hint`` as pydantic should see it; ``TypeError`` for what a tool schema cannot express."""
    from pydantic import Field

    origin, args = get_origin(hint), get_args(hint)
    if origin is Annotated:
        text = " ".join(meta for meta in args[1:] if isinstance(meta, str))
        metadata = [meta for meta in args[1:] if not isinstance(meta, str)] + [Field(description=text or None)]
        return Annotated[(_prepare(args[0], where, stack), *metadata)]
    if origin is Literal and not all(type(value) in (*_SCALARS, type(None)) for value in args):
        raise TypeError(f"{where}: {_show(hint)} has a value that is not a JSON scalar")
    if hint in _SCALARS or origin is Literal:
        return hint
    if origin is Union or origin is types.UnionType:
        present = [arg for arg in args if arg is not type(None)]
        if len(present) != 1:
            raise TypeError(f"{where}: unsupported union {_show(hint)} (only X | None is supported)")
        return Optional[_prepare(present[0], where, stack)]  # noqa: UP045 - a value here, not an annotation
    if origin is list and len(args) == 1:
        return list[_prepare(args[0], where, stack)]  # type: ignore[misc]
    if origin is dict and len(args) == 2 and args[0] is str:
        return dict[str, _prepare(args[1], where, stack)]  # type: ignore[misc]
    if origin is dict:
        raise TypeError(f"{where}: dict keys must be str in {_show(hint)} (JSON object keys are strings)")
    if isinstance(hint, type) and (dataclasses.is_dataclass(hint) or typing.is_typeddict(hint)):
        return _class(hint, where, stack)
    advice = " (give the item type, e.g. list[str] or dict[str, int])" if hint in (list, dict) else ""
    raise TypeError(f"{where}: unsupported type annotation {_show(hint)}{advice}")


def _class(cls: type, where: str, stack: tuple[type, ...]) -> Any:
    """A dataclass or TypedDict as the fields of one JSON object."""
    if cls in stack:
        raise TypeError(f"{where}: recursive type {cls.__name__} is not supported")
    hints, doc = _hints(cls, where), parse_docstring(_own_doc(cls))
    entries: list[tuple[str, Any, bool, Any]] = []  # name, hint, required, default
    for item in dataclasses.fields(cls) if dataclasses.is_dataclass(cls) else ():
        required = item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING
        entries += [(item.name, hints[item.name], required, item.default)] if item.init else []
    required_keys: frozenset[str] = getattr(cls, "__required_keys__", frozenset())
    for key, hint in hints.items() if typing.is_typeddict(cls) else ():
        # Explicit markers win: with string annotations Python 3.11 may misfile them.
        marker = get_origin(hint)
        required = marker is Required or (marker is not NotRequired and key in required_keys)
        bare = get_args(hint)[0] if marker in (Required, NotRequired) else hint
        entries.append((key, bare, required, dataclasses.MISSING))
    fields = [
        (key, hint, f"{where} ({cls.__name__}.{key})", required, default, doc.params.get(key))
        for key, hint, required, default in entries
    ]
    return _object(cls.__name__, fields, doc.summary, cls if dataclasses.is_dataclass(cls) else dict, (*stack, cls))


def _object(name: str, fields: list[_Field], summary: str, build: Callable[..., Any], stack: tuple[type, ...]) -> Any:
    """A pydantic model of one JSON object whose validated value is ``build(**fields_sent)``."""
    from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model

    definitions: dict[str, Any] = {}
    names: dict[str, str] = {}  # The alias carries the name: a field may be called "schema" or "_x", a model's not.
    for index, (key, hint, where, required, default, text) in enumerate(fields):
        options: dict[str, Any] = {"alias": key, **({"description": text} if text else {})}
        if not required:  # the factory's value is never used: only the fields sent are passed on
            options |= {"default_factory": lambda: None, "json_schema_extra": _schema_default(default)}
        names[f"field{index}"] = key
        definitions[f"field{index}"] = (_prepare(hint, where, stack), Field(**options))
    model = create_model(name, __config__=ConfigDict(extra="forbid"), __doc__=summary or None, **definitions)

    def unpack(value: BaseModel) -> Any:
        return build(**{names[key]: getattr(value, key) for key in names if key in value.model_fields_set})

    return Annotated[model, AfterValidator(unpack)]


def _schema_default(value: Any) -> dict[str, Any]:
    try:
        return {"default": json.loads(json.dumps(value, allow_nan=False))}
    except (TypeError, ValueError):
        return {}  # not expressible in JSON: the function's own default still applies


def _flatten(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every ``$ref`` inlined (several providers refuse ``$ref``) and without
    the ``title`` keys pydantic derives from names: smaller, and the same bytes every run."""
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, list):
            return [inline(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:  # never circular: _class refuses recursive types
            node = {**definitions[node["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
        return {k: v if k in _DATA_KEYS else inline(v) for k, v in node.items() if k != "title" or type(v) is not str}

    return dict(inline(schema))


# -- helpers --------------------------------------------------------------------------
def _hints(obj: Any, where: str) -> dict[str, Any]:
    try:
        return typing.get_type_hints(obj, include_extras=True)
    except (NameError, TypeError) as exc:
        missing = re.escape(getattr(exc, "name", None) or "\0")
        annotations: dict[str, Any] = {} if isinstance(obj, type) else getattr(obj, "__annotations__", {})
        culprit = next((name for name, hint in annotations.items() if re.search(rf"\b{missing}\b", str(hint))), None)
        where = f"{where}: parameter {culprit!r}" if culprit else where
        raise TypeError(f"{where}: cannot resolve a type hint ({exc}); define the types used at module level") from exc


def _own_doc(cls: type) -> str | None:
    doc = cls.__doc__
    # Without a docstring, dataclasses writes the signature there.
    return None if doc and dataclasses.is_dataclass(cls) and doc.startswith(f"{cls.__name__}(") else doc


def _show(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) and not get_args(hint) else repr(hint).replace("typing.", "")
