"""Every picture memprobe draws, rendered to PNG the way a person sees it
(rsvg-convert, as MEMPROBE_RSVG names it: a command reading SVG on stdin
and writing PNG on stdout), and not blank.

Part of the optional suite (.ci/optional), which points MEMPROBE_RSVG at
Debian's rsvg-convert in the sid chroot.
"""
import gc
import os
import shlex
import subprocess
import sys

import pytest

import memprobe
from _png import decode

RSVG = shlex.split(os.environ.get("MEMPROBE_RSVG", "rsvg-convert"))


def _render(svg):
    png = subprocess.run(RSVG, input=svg.encode(), capture_output=True, check=True, timeout=120).stdout
    return decode(png)


def _pictures():
    with memprobe.timeline(lengths=True) as t:
        for _ in range(3):
            [[] for _ in range(3000)]
            gc.collect(0)
        gc.collect()
    yield "timeline", t.result.to_svg()
    if sys.version_info >= (3, 12) and memprobe.interpreter().allocator.startswith("pymalloc"):
        yield "arena map by fill", memprobe.arenas().to_svg()
        yield "arena map by type", memprobe.arenas().to_svg(colour="type")
        yield "arena map by size class", memprobe.arenas().to_svg(colour="size")


@pytest.mark.parametrize("name,svg", list(_pictures()), ids=lambda v: v if len(v) < 40 else "")
def test_each_picture_renders_to_a_picture_with_something_in_it(name, svg):
    width, height, pixels = _render(svg)
    assert width >= 300 and height >= 100
    # Not one colour: a bar, a cell and the text are drawn.
    assert len(set(pixels[1::97])) > 8, name
