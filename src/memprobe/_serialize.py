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
from typing import Any, Dict, Mapping, Optional, Sequence, Type, TypeVar

from . import _types
from ._types import (ArenaInfo, BlockCensus, Explanation, Fragmentation, Generation, LessonResult, PoolInfo,
                     RemoteSnapshot, Report, ResidentMemory, Snapshot, SnapshotDiff, Timeline, TypeCounts)

FORMAT_VERSION = 3
KINDS: Dict[type, str] = {Snapshot: "snapshot", SnapshotDiff: "diff", Report: "report",
                          Fragmentation: "fragmentation", ResidentMemory: "rss", BlockCensus: "block-census",
                          Explanation: "explanation", Timeline: "timeline", RemoteSnapshot: "remote-snapshot"}
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
    try:
        module = _TYPE_MODULE.__get__(tp, type)
    except AttributeError:      # a class made by type() where no __name__ was set
        module = None
    qualname = _TYPE_QUALNAME.__get__(tp, type)
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
    if hint is float:   # JSON writes 1.0 as 1.0, but a writer may say 1
        if not isinstance(data, (int, float)) or isinstance(data, bool):
            raise TypeError(f"expected a number, got {data!r}")
        return float(data)
    raise TypeError(f"cannot rebuild {hint!r}")


# ---- The convention as a JSON Schema ----------------------------------------------------------

# The command line's documents that are not one result: each a dict of
# its parts (a part is a result's document without kind and format).
COMMAND_DOCUMENTS = ("run", "where", "lessons", "map", "pyperf-compare", "inject")


def json_schema() -> Dict[str, Any]:
    """The JSON Schema (draft 7) of every document memprobe writes, derived
    from the result declarations by the convention above; the package
    ships it as ``schema.json`` (``python -m memprobe schema`` prints
    it)."""
    definitions: Dict[str, Any] = {}

    def of(hint: Any) -> Dict[str, Any]:
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin is typing.Union:
            return {"anyOf": [of(a) for a in args]}
        if origin is tuple:
            return {"type": "array", "items": of(args[0])}
        if origin is dict or hint is TypeCounts:
            return {"type": "object", "additionalProperties": of(args[1] if args else int)}
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            return {"type": "string"}
        if isinstance(hint, type) and (dataclasses.is_dataclass(hint) or hasattr(hint, "_fields")):
            if hint.__name__ not in definitions:
                definitions[hint.__name__] = {}     # a placeholder while its fields are derived
                hints = typing.get_type_hints(hint, vars(_types))
                if dataclasses.is_dataclass(hint):
                    names = [f.name for f in dataclasses.fields(hint)]
                    definitions[hint.__name__] = {
                        "type": "object", "properties": {n: of(hints[n]) for n in names}, "required": names}
                else:   # a NamedTuple: its fields in order
                    definitions[hint.__name__] = {
                        "type": "array", "items": [of(hints[n]) for n in hint._fields],
                        "minItems": len(hint._fields), "maxItems": len(hint._fields)}
            return {"$ref": f"#/definitions/{hint.__name__}"}
        return {int: {"type": "integer"}, float: {"type": "number"}, str: {"type": "string"},
                bool: {"type": "boolean"}, type(None): {"type": "null"}}[hint]

    def document(kind: str, body: Dict[str, Any]) -> Dict[str, Any]:
        header = {"type": "object", "properties": {"kind": {"const": kind}, "format": {"const": FORMAT_VERSION}},
                  "required": ["kind", "format"]}
        return {"allOf": [header, body]}

    documents = {kind: document(kind, of(cls)) for cls, kind in KINDS.items()}
    documents["run"] = document("run", {"type": "object", "required": ["diff", "rss", "exit_code"], "properties": {
        "target": {"type": "string"}, "module": {"type": "boolean"}, "argv": {"type": "array"},
        "exit_code": {"type": "integer"}, "diff": of(SnapshotDiff),
        "rss": {"type": "object", "properties": {"before": of(ResidentMemory), "after": of(ResidentMemory)}}}})
    documents["where"] = document("where", {"type": "object", "required": ["rss", "top_types"], "properties": {
        "rss": of(ResidentMemory), "fragmentation": of(Optional[Fragmentation]),
        "fragmentation_unavailable": of(Optional[str]), "blocks": of(Optional[BlockCensus]),
        "blocks_unavailable": of(Optional[str]),
        "top_types": {"type": "array", "items": {"type": "array", "items": [{"type": "string"},
                                                                            {"type": "integer"}]}}}})
    documents["inject"] = document("inject", {
        "type": "object", "required": ["pid", "version", "report", "where"], "properties": {
            "pid": {"type": "integer"}, "version": {"type": "string"},
            "report": {"$ref": "#/definitions/report-document"}, "where": {"$ref": "#/definitions/where-document"}}})
    documents["map"] = document("map", {"type": "object", "required": ["arenas"], "properties": {
        "arenas": {"type": "array", "items": {
            "type": "object", "required": ["address", "total_pools", "free_pools", "resident_pages", "pools"],
            "properties": {"address": {"type": "integer"}, "total_pools": {"type": "integer"},
                           "free_pools": {"type": "integer"}, "resident_pages": of(Optional[int]),
                           "pools": {"type": "array", "items": of(PoolInfo)}}}}}})
    per_benchmark = {"type": "object", "additionalProperties": {
        "type": "object", "additionalProperties": {"type": "number"}}}
    documents["pyperf-compare"] = document("pyperf-compare", {
        "type": "object", "required": ["a", "b"], "properties": {"a": per_benchmark, "b": per_benchmark}})
    documents["lessons"] = document("lessons", {"type": "object", "required": ["lessons"], "properties": {
        "lessons": {"type": "array", "items": of(LessonResult)}}})
    # Documents by kind ("<kind>-document"), then the results they are made of (by class name).
    return {"$schema": "http://json-schema.org/draft-07/schema#", "title": "memprobe's JSON documents",
            "description": "Every document carries kind and format; definitions/<kind>-document describes each.",
            "type": "object", "required": ["kind", "format"],
            "oneOf": [{"$ref": f"#/definitions/{kind}-document"} for kind in documents],
            "definitions": {**{f"{kind}-document": d for kind, d in documents.items()},
                            **dict(sorted(definitions.items()))}}


def arena_map_document(arenas: Sequence[ArenaInfo]) -> Dict[str, Any]:
    """map --json: each arena with every pool slot as a PoolInfo row
    (class_index -1: free, or not carved yet)."""
    return command_document("map", {"arenas": [
        {"address": a.address, "total_pools": a.total_pools, "free_pools": a.free_pools,
         "resident_pages": a.resident_pages, "pools": plain(a.pools)} for a in arenas]})


def command_document(kind: str, parts: Dict[str, Any]) -> Dict[str, Any]:
    """A command's document (run, where, lessons): its parts, with kind and
    format as every document has."""
    assert kind in COMMAND_DOCUMENTS
    return {"kind": kind, "format": FORMAT_VERSION, **parts}

