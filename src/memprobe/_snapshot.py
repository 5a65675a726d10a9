"""snapshot(), Snapshot - Snapshot, and measure(): allocator and collector
state at two moments, and what changed between them.

A snapshot installs no hooks and traces nothing: it reads pymalloc's state,
the collector's state, sys.getallocatedblocks() and a census of tracked
objects, one after the other.  Building each part's Python objects allocates
a few hundred blocks that the parts read after it see; diffs therefore carry
that much noise (measured in the tests, see NOISE_BLOCKS).
"""
from __future__ import annotations

import contextlib
import dataclasses
import gc
import html
import json
import sys
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Dict, Mapping, NamedTuple, Optional, Tuple, Type

from . import _memprobe
from ._memprobe import MemprobeError, PymallocUnavailable
from ._mimalloc import MimallocUnavailable, mimalloc
from ._pymalloc import pymalloc
from ._types import (GCState, Generation, GenerationState, MimallocSizeClass, MimallocSnapshot,
                     PymallocSnapshot, SizeClass)

FORMAT_VERSION = 2
# Blocks a snapshot itself may add to the next reading (dicts, tuples and
# dataclasses of the previous parts): the tolerance diffs are tested with.
# A mimalloc part holds one row per heap kind and block size (about 130 on a
# free-threaded build, each a tuple and its ints), so it adds more.
NOISE_BLOCKS = 2500 if (
    _memprobe._interpreter_facts()["allocator"] or "").startswith("mimalloc") else 1000



class SnapshotMismatch(MemprobeError, ValueError):
    """Two snapshots from different interpreters cannot be compared."""


def _type_name(tp: type) -> str:
    return f"{tp.__module__}.{tp.__qualname__}"


def _interpreter_key() -> Tuple[str, int, bool, bool]:
    facts = _memprobe._interpreter_facts()
    version = ".".join(map(str, sys.version_info[:3]))
    kind = ("debug" if facts["debug_build"] else "release") + (
        " free-threaded" if facts["free_threaded"] else "")
    return f"CPython {version} {kind}", facts["runtime_hexversion"], facts["debug_build"], facts["free_threaded"]


@dataclass(frozen=True)
class Snapshot:
    """Allocator and collector state at one moment (see ``snapshot()``).

    ``pymalloc`` is ``None`` when pymalloc does not serve allocations, with
    ``pymalloc_unavailable`` saying why; ``mimalloc`` likewise for mimalloc
    (free-threaded builds, ``PYTHONMALLOC=mimalloc``).  ``objects_by_type``
    counts tracked objects in generations 0-2 (free-threaded: every tracked
    object not frozen) by ``module.qualname``; ``objects_by_generation`` has
    keys ``"0"``, ``"1"``, ``"2"`` and ``"permanent"`` (free-threaded:
    ``"tracked"``).  Subtracting two snapshots gives a ``SnapshotDiff``.
    """

    interpreter: str
    hexversion: int
    debug_build: bool
    free_threaded: bool
    allocated_blocks: int
    pymalloc: Optional[PymallocSnapshot]
    pymalloc_unavailable: Optional[str]
    mimalloc: Optional[MimallocSnapshot]
    mimalloc_unavailable: Optional[str]
    gc: GCState
    objects_by_generation: Dict[str, int]
    objects_by_type: Dict[str, int]

    def __hash__(self) -> int:
        return hash((self.interpreter, self.allocated_blocks))

    def __sub__(self, before: "Snapshot") -> "SnapshotDiff":
        if not isinstance(before, Snapshot):
            return NotImplemented
        return SnapshotDiff.between(before, self)

    def to_dict(self) -> Dict[str, Any]:
        """A plain, JSON-compatible dict; ``Snapshot.from_dict`` reverses it."""
        data = dataclasses.asdict(self)
        data["format"] = FORMAT_VERSION
        data["kind"] = "snapshot"
        if self.pymalloc is not None:
            data["pymalloc"]["size_classes"] = [list(c) for c in self.pymalloc.size_classes]
        if self.mimalloc is not None:
            data["mimalloc"]["size_classes"] = [list(c) for c in self.mimalloc.size_classes]
        data["gc"]["generations"] = [dataclasses.asdict(g) for g in self.gc.generations]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Snapshot":
        """Rebuild a snapshot from ``to_dict()`` output; ValueError if malformed."""
        try:
            _check_kind(data, "snapshot")
            pm = data["pymalloc"]
            pymalloc_snapshot = None
            if pm is not None:
                fields = dict(pm)
                fields["size_classes"] = tuple(SizeClass(*map(int, c)) for c in pm["size_classes"])
                pymalloc_snapshot = PymallocSnapshot(**fields)
            mi = data["mimalloc"]
            mimalloc_snapshot = None
            if mi is not None:
                fields = dict(mi)
                fields["size_classes"] = tuple(
                    MimallocSizeClass(str(c[0]), *map(int, c[1:])) for c in mi["size_classes"])
                mimalloc_snapshot = MimallocSnapshot(**fields)
            gc_fields = dict(data["gc"])
            gc_fields["generations"] = tuple(GenerationState(**g) for g in gc_fields["generations"])
            return cls(
                interpreter=str(data["interpreter"]),
                hexversion=int(data["hexversion"]),
                debug_build=bool(data["debug_build"]),
                free_threaded=bool(data["free_threaded"]),
                allocated_blocks=int(data["allocated_blocks"]),
                pymalloc=pymalloc_snapshot,
                pymalloc_unavailable=data["pymalloc_unavailable"],
                mimalloc=mimalloc_snapshot,
                mimalloc_unavailable=data["mimalloc_unavailable"],
                gc=GCState(**gc_fields),
                objects_by_generation={str(k): int(v) for k, v in data["objects_by_generation"].items()},
                objects_by_type={str(k): int(v) for k, v in data["objects_by_type"].items()},
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a memprobe snapshot: {exc!r}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> "Snapshot":
        return cls.from_dict(_load_json(text))

    def _repr_html_(self) -> str:
        """Notebook view: the table, preformatted."""
        return "<pre>" + html.escape(str(self)) + "</pre>"

    def __str__(self) -> str:
        lines = [f"memprobe snapshot of {self.interpreter}",
                 f"  sys.getallocatedblocks()   {self.allocated_blocks:>12,}"]
        if self.mimalloc is not None:
            m = self.mimalloc
            lines += [
                f"  mimalloc ({m.scope}, {m.threads} thread(s))",
                f"  pages / blocks in use      {m.pages:>12,} / {m.blocks_in_use:,}",
                f"  bytes committed/reserved   {m.bytes_committed:>12,} / {m.bytes_reserved:,}",
                "  heap     size    pages   blocks in use   blocks free",
            ]
            lines += [f"  {c.heap:<7}{c.block_size:>6} {c.pages:>8,} {c.blocks_in_use:>15,} {c.blocks_free:>13,}"
                      for c in sorted(m.size_classes, key=lambda c: -c.blocks_in_use)[:12]]
        if self.pymalloc is None:
            lines.append(f"  pymalloc                   unavailable: {self.pymalloc_unavailable}")
        else:
            p = self.pymalloc
            lines += [
                f"  arenas current/highwater   {p.arenas_current:>12,} / {p.arenas_highwater:,}",
                f"  blocks in use              {p.blocks_in_use:>12,}",
                f"  raw (over {p.small_request_threshold}-byte) blocks  {p.raw_allocated_blocks:>12,}",
                "  class  size    pools   blocks in use   blocks free",
            ]
            lines += [f"  {c.class_index:>5} {c.block_size:>5} {c.pools:>8,} {c.blocks_in_use:>15,} {c.blocks_free:>13,}"
                      for c in p.size_classes]
        lines.append("  tracked objects by generation: "
                     + ", ".join(f"{k}={v:,}" for k, v in self.objects_by_generation.items()))
        top = sorted(self.objects_by_type.items(), key=lambda kv: -kv[1])[:10]
        lines += [f"  {count:>10,}  {name}" for name, count in top]
        return "\n".join(lines)


class MimallocClassDelta(NamedTuple):
    """Change in one mimalloc heap kind's block size between two snapshots."""

    heap: str
    block_size: int
    pages: int
    blocks_in_use: int


class SizeClassDelta(NamedTuple):
    """Change in one size class between two snapshots."""

    class_index: int
    block_size: int
    pools: int
    blocks_in_use: int


@dataclass(frozen=True)
class SnapshotDiff:
    """What changed between two snapshots (``after - before``).

    Every field is after minus before.  ``arenas_allocated`` and
    ``arenas_freed`` count arenas pymalloc obtained and released in between;
    ``size_classes`` and ``objects_by_type`` list only what changed, largest
    change first.  Diffs carry up to ``NOISE_BLOCKS`` blocks of noise from
    the snapshots' own objects.
    """

    interpreter: str
    pymalloc_available: bool
    allocated_blocks: int
    blocks_in_use: int
    raw_allocated_blocks: int
    arenas_allocated: int
    arenas_freed: int
    arenas_current: int
    arenas_highwater: int
    size_classes: Tuple[SizeClassDelta, ...]
    mimalloc_available: bool
    mimalloc_blocks_in_use: int
    mimalloc_pages: int
    mimalloc_classes: Tuple[MimallocClassDelta, ...]
    objects_by_generation: Dict[str, int]
    objects_by_type: Dict[str, int]

    def __hash__(self) -> int:
        return hash((self.interpreter, self.allocated_blocks))

    @classmethod
    def between(cls, before: Snapshot, after: Snapshot) -> "SnapshotDiff":
        if (before.interpreter, before.hexversion) != (after.interpreter, after.hexversion):
            raise SnapshotMismatch(
                f"cannot diff snapshots of different interpreters: {before.interpreter} "
                f"(0x{before.hexversion:08x}) and {after.interpreter} (0x{after.hexversion:08x})")
        b, a = before.pymalloc, after.pymalloc
        classes: Tuple[SizeClassDelta, ...] = ()
        if b is not None and a is not None:
            indexes = sorted({c.class_index for c in b.size_classes} | {c.class_index for c in a.size_classes})
            deltas = []
            for i in indexes:
                cb, ca = b.size_class(i), a.size_class(i)
                if (ca.pools, ca.blocks_in_use) != (cb.pools, cb.blocks_in_use):
                    deltas.append(SizeClassDelta(i, ca.block_size, ca.pools - cb.pools,
                                                 ca.blocks_in_use - cb.blocks_in_use))
            classes = tuple(sorted(deltas, key=lambda d: -abs(d.blocks_in_use)))

        def delta(field: str) -> int:
            if a is None or b is None:
                return 0
            return int(getattr(a, field)) - int(getattr(b, field))

        mb, ma = before.mimalloc, after.mimalloc
        mi_classes: Tuple[MimallocClassDelta, ...] = ()
        if mb is not None and ma is not None:
            keys = sorted({(m.heap, m.block_size) for m in mb.size_classes + ma.size_classes})
            mi_deltas = []
            for heap, size in keys:
                was, now = mb.size_class(heap, size), ma.size_class(heap, size)
                if (now.pages, now.blocks_in_use) != (was.pages, was.blocks_in_use):
                    mi_deltas.append(MimallocClassDelta(heap, size, now.pages - was.pages,
                                                        now.blocks_in_use - was.blocks_in_use))
            mi_classes = tuple(sorted(mi_deltas, key=lambda d: -abs(d.blocks_in_use)))
        mimalloc_available = mb is not None and ma is not None
        generation_keys = list(before.objects_by_generation)
        generation_keys += [k for k in after.objects_by_generation if k not in generation_keys]
        types = {k: after.objects_by_type.get(k, 0) - before.objects_by_type.get(k, 0)
                 for k in set(before.objects_by_type) | set(after.objects_by_type)}
        return cls(
            interpreter=after.interpreter,
            pymalloc_available=a is not None and b is not None,
            allocated_blocks=after.allocated_blocks - before.allocated_blocks,
            blocks_in_use=delta("blocks_in_use"),
            raw_allocated_blocks=delta("raw_allocated_blocks"),
            arenas_allocated=delta("arenas_allocated_total"),
            arenas_freed=delta("arenas_reclaimed"),
            arenas_current=delta("arenas_current"),
            arenas_highwater=delta("arenas_highwater"),
            size_classes=classes,
            mimalloc_available=mimalloc_available,
            mimalloc_blocks_in_use=ma.blocks_in_use - mb.blocks_in_use if ma and mb else 0,
            mimalloc_pages=ma.pages - mb.pages if ma and mb else 0,
            mimalloc_classes=mi_classes,
            objects_by_generation={k: after.objects_by_generation.get(k, 0) - before.objects_by_generation.get(k, 0)
                                   for k in generation_keys},
            objects_by_type=dict(sorted(((k, v) for k, v in types.items() if v), key=lambda kv: (-abs(kv[1]), kv[0]))),
        )

    def to_dict(self) -> Dict[str, Any]:
        data = dataclasses.asdict(self)
        data["size_classes"] = [list(c) for c in self.size_classes]
        data["mimalloc_classes"] = [list(c) for c in self.mimalloc_classes]
        data["format"] = FORMAT_VERSION
        data["kind"] = "diff"
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SnapshotDiff":
        try:
            _check_kind(data, "diff")
            fields = {f.name: data[f.name] for f in dataclasses.fields(cls)}
            fields["size_classes"] = tuple(SizeClassDelta(*map(int, c)) for c in data["size_classes"])
            fields["mimalloc_classes"] = tuple(
                MimallocClassDelta(str(c[0]), *map(int, c[1:])) for c in data["mimalloc_classes"])
            fields["objects_by_generation"] = {str(k): int(v) for k, v in data["objects_by_generation"].items()}
            fields["objects_by_type"] = {str(k): int(v) for k, v in data["objects_by_type"].items()}
            return cls(**fields)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a memprobe snapshot diff: {exc!r}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> "SnapshotDiff":
        return cls.from_dict(_load_json(text))

    def _repr_html_(self) -> str:
        return "<pre>" + html.escape(str(self)) + "</pre>"

    def __str__(self) -> str:
        lines = [f"memprobe diff on {self.interpreter}",
                 f"  allocated blocks (sys.getallocatedblocks)  {self.allocated_blocks:+,}"]
        if self.mimalloc_available:
            lines.append(f"  mimalloc pages / blocks in use             {self.mimalloc_pages:+,} / "
                         f"{self.mimalloc_blocks_in_use:+,}")
            if self.mimalloc_classes:
                lines.append("  heap     size     pages   blocks in use")
                lines += [f"  {d.heap:<7}{d.block_size:>6} {d.pages:>+9,} {d.blocks_in_use:>+15,}"
                          for d in self.mimalloc_classes[:12]]
        if self.pymalloc_available:
            lines += [
                f"  pymalloc blocks in use                     {self.blocks_in_use:+,}",
                f"  raw blocks (over the threshold)            {self.raw_allocated_blocks:+,}",
                f"  arenas allocated / freed / highwater       +{self.arenas_allocated:,} / "
                f"-{self.arenas_freed:,} / {self.arenas_highwater:+,}",
            ]
            if self.size_classes:
                lines.append("  class  size     pools   blocks in use")
                lines += [f"  {d.class_index:>5} {d.block_size:>5} {d.pools:>+9,} {d.blocks_in_use:>+15,}"
                          for d in self.size_classes[:12]]
        else:
            lines.append("  pymalloc                                   unavailable")
        lines.append("  tracked objects by generation: "
                     + ", ".join(f"{k}={v:+,}" for k, v in self.objects_by_generation.items()))
        lines += [f"  {count:>+10,}  {name}" for name, count in list(self.objects_by_type.items())[:10]]
        return "\n".join(lines)


def _check_kind(data: Mapping[str, Any], kind: str) -> None:
    if not isinstance(data, Mapping):
        raise TypeError(f"expected a dict, got {type(data).__name__}")
    if data.get("kind") != kind or data.get("format") != FORMAT_VERSION:
        raise KeyError(f"kind={data.get('kind')!r} format={data.get('format')!r}")


def _load_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None


def snapshot() -> Snapshot:
    """Allocator and collector state now, read without any tracing hooks."""
    name, hexversion, debug, free_threaded = _interpreter_key()
    try:
        pymalloc_snapshot: Optional[PymallocSnapshot] = pymalloc()
        unavailable = None
    except PymallocUnavailable as exc:
        pymalloc_snapshot, unavailable = None, str(exc)
    try:
        mimalloc_snapshot: Optional[MimallocSnapshot] = mimalloc()
        mimalloc_unavailable = None
    except MimallocUnavailable as exc:
        mimalloc_snapshot, mimalloc_unavailable = None, str(exc)
    state = _memprobe.gc_state()
    census = _memprobe.census()
    allocated = sys.getallocatedblocks()
    if free_threaded:
        generations = {"tracked": census.by_generation.get(Generation.TRACKED, 0)}
    else:
        generations = {key: census.by_generation.get(Generation(i), 0)
                       for i, key in enumerate(("0", "1", "2", "permanent"))}
    return Snapshot(
        interpreter=name,
        hexversion=hexversion,
        debug_build=debug,
        free_threaded=free_threaded,
        allocated_blocks=allocated,
        pymalloc=pymalloc_snapshot,
        pymalloc_unavailable=unavailable,
        mimalloc=mimalloc_snapshot,
        mimalloc_unavailable=mimalloc_unavailable,
        gc=state,
        objects_by_generation=generations,
        objects_by_type={_type_name(t): n for t, n in census.by_type.items()},
    )


class measure(contextlib.ContextDecorator):
    """Snapshots before and after a block (or each call of a function).

    >>> with measure() as m:
    ...     data = [object() for _ in range(1000)]
    >>> m.diff.objects_by_type["builtins.object"] >= 0
    True

    With ``collect=True`` a full ``gc.collect()`` runs before each snapshot,
    so cyclic garbage does not show as growth.
    """

    def __init__(self, collect: bool = False) -> None:
        self.collect = collect
        self.before: Optional[Snapshot] = None
        self.after: Optional[Snapshot] = None
        self._diff: Optional[SnapshotDiff] = None

    @property
    def diff(self) -> SnapshotDiff:
        if self._diff is None:
            raise MemprobeError("measure(): the block has not finished yet")
        return self._diff

    def __enter__(self) -> "measure":
        self._diff = None
        if self.collect:
            gc.collect()
        self.before = snapshot()
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        if self.collect:
            gc.collect()
        self.after = snapshot()
        assert self.before is not None
        self._diff = self.after - self.before
