"""Results as plain JSON data, and back: the one key convention.

- A dataclass is a dict of its fields (derived properties are not stored);
  a NamedTuple is a list of its fields, in order (size classes are rows).
- A generation used as a key is ``generation_key(g)``: ``"0"``, ``"1"``,
  ``"2"`` for the generations, else the member's name in lower case
  (``"permanent"``, ``"tracked"``, ...); a type used as a key is
  ``"module.qualname"``.
- A part that could not be read is ``null``, with the reason in the field
  ``<part>_unavailable`` beside it.
- Top-level documents carry ``"kind"`` and ``"format"``.
"""
from __future__ import annotations

import dataclasses
import enum
import json
import typing
from typing import Any, Dict, Mapping, Type, TypeVar

from ._types import (BlockCensus, Explanation, Fragmentation, Generation, Report, ResidentMemory, Snapshot,
                     SnapshotDiff)

FORMAT_VERSION = 3
KINDS: Dict[type, str] = {Snapshot: "snapshot", SnapshotDiff: "diff", Report: "report",
                          Fragmentation: "fragmentation", ResidentMemory: "rss", BlockCensus: "block-census",
                          Explanation: "explanation"}
T = TypeVar("T")


def generation_key(generation: Generation) -> str:
    if Generation.GEN0 <= generation <= Generation.GEN2:
        return str(int(generation))
    return generation.name.lower()


_TYPE_MODULE = type.__dict__["__module__"]
_TYPE_QUALNAME = type.__dict__["__qualname__"]


def type_name(tp: type) -> str:
    """``module.qualname``, read from the type itself: type's own
    descriptors, not a metaclass's attribute lookup."""
    module, qualname = _TYPE_MODULE.__get__(tp, type), _TYPE_QUALNAME.__get__(tp, type)
    # type(...) is str, not isinstance: isinstance asks a non-str's __class__.
    return f"{module if type(module) is str else '?'}.{qualname if type(qualname) is str else '?'}"


def plain(value: Any) -> Any:
    """value as JSON-compatible data, by the convention above."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return generation_key(value) if isinstance(value, Generation) else value.name
    if isinstance(value, (tuple, list)):
        return [plain(item) for item in value]
    if isinstance(value, Mapping):
        # Types that share a name (made by a factory) add up, as in snapshots.
        out: Dict[str, Any] = {}
        for k, v in value.items():
            key, item = _key(k), plain(v)
            out[key] = out[key] + item if key in out and isinstance(item, int) else item
        return out
    if isinstance(value, type):
        return type_name(value)
    return value


def _key(key: Any) -> str:
    if isinstance(key, Generation):
        return generation_key(key)
    return type_name(key) if isinstance(key, type) else str(key)


def to_dict(result: Any) -> Dict[str, Any]:
    data: Dict[str, Any] = plain(result)
    data["kind"] = KINDS[type(result)]
    data["format"] = FORMAT_VERSION
    return data


def to_json(result: Any) -> str:
    return json.dumps(to_dict(result))


def from_dict(cls: Type[T], data: Mapping[str, Any]) -> T:
    """Rebuild a Snapshot or SnapshotDiff; ValueError when malformed."""
    try:
        if not isinstance(data, Mapping):
            raise TypeError(f"expected a dict, got {type(data).__name__}")
        if data.get("kind") != KINDS[cls] or data.get("format") != FORMAT_VERSION:
            raise KeyError(f"kind={data.get('kind')!r} format={data.get('format')!r}")
        result: T = _build(cls, data)
        return result
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"not a memprobe {KINDS[cls]}: {exc!r}") from None


def from_json(cls: Type[T], text: str) -> T:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    return from_dict(cls, data)


# Fields added to a format after its first documents (all Optional).
ADDED_LATER = frozenset({"blocks_by_type", "block_bytes_by_type", "blocks_unavailable", "arena_bytes",
                         "free_block_bytes", "empty_pool_bytes"})


def _build(hint: Any, data: Any) -> Any:
    """data, checked and converted to the annotated type ``hint``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        if data is None and type(None) in args:
            return None
        return _build(next(a for a in args if a is not type(None)), data)
    if origin is tuple:
        return tuple(_build(args[0], item) for item in data)
    if origin is dict:
        if not isinstance(data, Mapping):
            raise TypeError(f"expected a dict, got {type(data).__name__}")
        return {_build(args[0], k): _build(args[1], v) for k, v in data.items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        # Documents written before a field was added lack it: not known.
        return hint(**{f.name: _build(hints[f.name], data[f.name] if f.name in data or f.name not in ADDED_LATER
                                      else None) for f in dataclasses.fields(hint)})
    if isinstance(hint, type) and issubclass(hint, tuple) and hasattr(hint, "_fields"):
        hints = typing.get_type_hints(hint)
        if len(data) != len(hint._fields):
            raise ValueError(f"{hint.__name__} has {len(hint._fields)} fields, not {len(data)}")
        return hint(*(_build(hints[name], item) for name, item in zip(hint._fields, data)))
    if hint in (int, str, bool):
        if not isinstance(data, hint) or (hint is int and isinstance(data, bool)):
            raise TypeError(f"expected {hint.__name__}, got {data!r}")
        return data
    raise TypeError(f"cannot rebuild {hint!r}")
