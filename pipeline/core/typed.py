"""Dataclasses from plain dicts (YAML, JSON), the one converter for configs and records.

With `check`, every value is checked against its annotation and an unknown key is an error
naming its dotted path (configs: a typo must stop a build before any work). Without it the
data is trusted (records the pipeline wrote itself) and only the nesting is rebuilt.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any


class TypedError(ValueError):
    """A value that does not fit its annotation; the message names its dotted path."""


def type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check `value` against the annotation `tp`; ints are accepted where floats are."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except TypedError:
                pass
        raise TypedError(f"{where}: expected {type_name(tp)}, got {value!r}")
    if origin is dict:
        key_t, val_t = typing.get_args(tp)
        if not isinstance(value, dict):
            raise TypedError(f"{where}: expected a mapping {type_name(tp)}, got {value!r}")
        return {_coerce(k, key_t, where): _coerce(v, val_t, f"{where}.{k}")
                for k, v in value.items()}
    if origin is list:
        (item_t,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise TypedError(f"{where}: expected a list {type_name(tp)}, got {value!r}")
        return [_coerce(v, item_t, f"{where}[{i}]") for i, v in enumerate(value)]
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp in (int, str, bool) and isinstance(value, tp):
        if not (tp is int and isinstance(value, bool)):
            return value
    raise TypedError(f"{where}: expected {type_name(tp)}, got {value!r}")


def _checked(cls: type, data: dict[str, Any], prefix: str, lenient: bool) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in names:
            if lenient:
                continue
            known = ", ".join(sorted(names))
            raise TypedError(f"unknown key '{dotted}' (known keys here: {known})")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                raise TypedError(f"'{dotted}' must be a mapping, got {value!r}")
            kwargs[key] = _checked(tp, value, f"{dotted}.", lenient)
        else:
            kwargs[key] = _coerce(value, tp, f"'{dotted}'")
    return cls(**kwargs)


def _trusted(tp: Any, data: Any) -> Any:
    if data is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _trusted(inner[0], data)
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        return tp(**{f.name: _trusted(hints[f.name], data[f.name])
                     for f in dataclasses.fields(tp) if f.name in data})
    if origin is list:
        (inner,) = typing.get_args(tp)
        return [_trusted(inner, v) for v in data]
    return data


def from_dict(cls: type, data: dict[str, Any], *, check: bool = False,
              lenient: bool = False) -> Any:
    """`cls` built from `data`; with `check`, validated (unknown keys allowed if `lenient`)."""
    if check:
        return _checked(cls, data, "", lenient)
    return _trusted(cls, data)
