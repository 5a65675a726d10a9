"""A small typed script using memprobe; checked with mypy --strict by the tests."""
from typing import Optional

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
