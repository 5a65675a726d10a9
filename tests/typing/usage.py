"""A small typed script using memprobe; checked with mypy --strict by the tests."""
from typing import Optional, Tuple

import memprobe


def describe(obj: object) -> str:
    info: memprobe.RefInfo = memprobe.refinfo(obj)
    count: int = memprobe.refcount(obj)
    immortal: bool = info.immortal
    high: Optional[int] = info.high
    return f"{count} {immortal} {high}"


def allocator() -> str:
    interp: memprobe.Interpreter = memprobe.interpreter()
    constants: Optional[memprobe.PymallocConstants] = interp.pymalloc
    arena = constants.arena_size if constants is not None else 0
    return f"{interp.allocator} {interp.gc_regime} {arena} {interp.version[0]}"


try:
    print(describe(None), allocator())
except memprobe.UnsupportedInterpreter as exc:
    print(exc)


def collector() -> int:
    generation: memprobe.Generation = memprobe.generation([])
    state: memprobe.GCState = memprobe.gc_state()
    census: memprobe.Census = memprobe.census(top=5)
    young: int = state.generations[0].length or 0
    return int(generation) + young + census.total


def allocator_blocks() -> int:
    snapshot: memprobe.PymallocSnapshot = memprobe.pymalloc()
    first: memprobe.SizeClass = snapshot.size_classes[0]
    info: memprobe.BlockInfo = memprobe.block_info(b"xy")
    block: int = info.block_size if info.block_size is not None else 0
    arenas: Tuple[memprobe.ArenaInfo, ...] = memprobe.arenas()
    return snapshot.allocated_blocks + first.blocks_in_use + block + len(arenas)
