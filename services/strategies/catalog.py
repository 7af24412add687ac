"""The strategy catalog behind ``python bot.py --list-strategies``.

Lists every built-in class with its kind, one-line description and every parameter (nested
blocks such as ``sizing`` and ``universe`` flattened to dotted keys) with its type, its default
for that class and its description.
"""

from __future__ import annotations

import sys
import types
import typing
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel

from services.strategies.base import Strategy
from services.strategies.loader import BUILTINS, resolve_class


@dataclass(frozen=True, slots=True)
class ParamInfo:
    """One documented parameter."""

    key: str
    type: str
    default: str
    description: str


@dataclass(frozen=True, slots=True)
class ClassInfo:
    """One strategy class in the catalog."""

    name: str
    path: str
    kind: str
    description: str
    params: tuple[ParamInfo, ...]


def type_name(annotation: Any) -> str:
    """Return a short readable name for a field annotation (``decimal``, ``one of a|b``)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return "one of " + "|".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        names = [type_name(a) for a in args if a is not type(None)]
        opt = " or null" if type(None) in args else ""
        return " or ".join(names) + opt
    if origin is list:
        return f"list[{type_name(args[0])}]" if args else "list"
    if annotation is Decimal:
        return "decimal"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation)


def _fmt_default(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, list):
        return "[" + ", ".join(_fmt_default(v) for v in value) + "]"
    return str(value)


def describe_params(model: BaseModel, prefix: str = "") -> list[ParamInfo]:
    """Flatten a parameter instance (its values are the defaults) into :class:`ParamInfo` rows."""
    out: list[ParamInfo] = []
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        key = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            out.extend(describe_params(value, f"{key}."))
            continue
        out.append(
            ParamInfo(
                key, type_name(field.annotation), _fmt_default(value), field.description or ""
            )
        )
    return out


def describe_class(name: str, cls: type[Strategy]) -> ClassInfo:
    """Return the catalog entry of one strategy class."""
    return ClassInfo(
        name=name,
        path=f"{cls.__module__}:{cls.__qualname__}",
        kind=cls.kind,
        description=cls.description or (cls.__doc__ or "").strip().splitlines()[0],
        params=tuple(describe_params(cls.Params())),
    )


def catalog() -> list[ClassInfo]:
    """Return the catalog of every built-in strategy class, in registry order."""
    here = Path.cwd()
    return [
        describe_class(name, resolve_class(name, here, "<builtins>", name)) for name in BUILTINS
    ]


SHARED_BLOCKS = ("sizing", "universe")
"""Nested parameter blocks every built-in takes; their keys are described once, at the end."""


def print_catalog(out: TextIO | None = None) -> None:
    """Print the catalog (``python bot.py --list-strategies``).

    Each class lists its own parameters (type, default, description) and the defaults it uses
    for the shared ``sizing`` and ``universe`` blocks, whose keys are described once at the end.
    """
    stream = out or sys.stdout
    w = stream.write
    w(
        "Built-in strategies (use the name as `class:` in config.yaml; see docs/STRATEGY_GUIDE.md).\n"
    )
    w("Your own: `class: path/to/file.py:ClassName` or `class: package.module:ClassName`.\n")
    shared: dict[str, ParamInfo] = {}
    for info in catalog():
        w(f"\n{info.name}  [{info.kind}]  ({info.path})\n  {info.description}\n")
        own = [p for p in info.params if p.key.split(".", 1)[0] not in SHARED_BLOCKS]
        width = max((len(p.key) for p in own), default=0)
        for p in own:
            w(f"    {p.key:<{width}}  {p.type}, default {p.default}: {p.description}\n")
        for block in SHARED_BLOCKS:
            rows = [p for p in info.params if p.key.startswith(block + ".")]
            if rows:
                values = " ".join(f"{p.key.split('.', 1)[1]}={p.default}" for p in rows)
                w(f"    {block}: {values}\n")
                for p in rows:
                    shared.setdefault(p.key, p)
    w("\nShared parameter blocks (every built-in takes them; defaults differ per class):\n")
    width = max((len(k) for k in shared), default=0)
    for key, p in shared.items():
        w(f"    {key:<{width}}  {p.type}: {p.description}\n")
