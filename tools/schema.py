"""A small JSON Schema subset validator for tool arguments.

Models sometimes send arguments of the wrong shape; a precise, human-readable error
("edits[1].old: expected string, got integer") lets the model fix its next call
instead of the handler failing with a confusing ``TypeError``. Only the keywords the
built-in schemas use are supported: type, properties, required, additionalProperties
(bool), items, enum, minimum, maximum and minLength. Unknown keywords are ignored.
"""

from __future__ import annotations

from typing import Any

__all__ = ["json_type_name", "validate_arguments"]

_MAX_ERRORS = 20  # enough to be useful, few enough not to flood the model


def json_type_name(value: Any) -> str:
    """The JSON name of a Python value's type, as the model would think of it."""
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: bool is a subclass of int
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _matches_type(value: Any, expected: str) -> bool:
    actual = json_type_name(value)
    if expected == "number":
        return actual in ("integer", "number")
    if expected == "integer":
        # JSON has one number type: 5.0 is a valid integer (as in JSON Schema draft 6+).
        return actual == "integer" or (actual == "number" and float(value).is_integer())
    return actual == expected


def _label(path: str) -> str:
    return path or "arguments"


def validate_arguments(schema: dict[str, Any], value: Any) -> list[str]:
    """Return human-readable errors; an empty list means ``value`` is valid."""
    errors: list[str] = []
    _validate(schema, value, "", errors)
    return errors[:_MAX_ERRORS]


def _validate(schema: dict[str, Any], value: Any, path: str, errors: list[str]) -> None:
    if not _check_type(schema, value, path, errors):
        return  # deeper checks on a value of the wrong type only produce noise
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(repr(v) for v in schema["enum"])
        errors.append(f"{_label(path)}: expected one of {allowed}, got {value!r}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_range(schema, value, path, errors)
    if isinstance(value, str) and len(value) < schema.get("minLength", 0):
        errors.append(f"{_label(path)}: must be at least {schema['minLength']} characters long")
    if isinstance(value, dict):
        _check_object(schema, value, path, errors)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            _validate(schema["items"], item, f"{path}[{index}]", errors)


def _check_type(schema: dict[str, Any], value: Any, path: str, errors: list[str]) -> bool:
    expected = schema.get("type")
    if expected is None:
        return True
    options = [expected] if isinstance(expected, str) else list(expected)
    if any(_matches_type(value, option) for option in options):
        return True
    wanted = " or ".join(options)
    errors.append(f"{_label(path)}: expected {wanted}, got {json_type_name(value)}")
    return False


def _check_range(schema: dict[str, Any], value: float, path: str, errors: list[str]) -> None:
    if "minimum" in schema and value < schema["minimum"]:
        errors.append(f"{_label(path)}: must be >= {schema['minimum']}, got {value}")
    if "maximum" in schema and value > schema["maximum"]:
        errors.append(f"{_label(path)}: must be <= {schema['maximum']}, got {value}")


def _check_object(schema: dict[str, Any], value: dict[str, Any], path: str, errors: list[str]) -> None:
    prefix = f"{path}: " if path else ""
    for name in schema.get("required", []):
        if name not in value:
            errors.append(f"{prefix}missing required field '{name}'")
    properties: dict[str, Any] = schema.get("properties", {})
    for name, item in value.items():
        child = f"{path}.{name}" if path else name
        if name in properties:
            _validate(properties[name], item, child, errors)
        elif schema.get("additionalProperties", True) is False:
            allowed = ", ".join(properties) or "none"
            errors.append(f"{prefix}unexpected field '{name}' (allowed: {allowed})")
