"""The arena map: pymalloc's arenas drawn as SVG text (standard library only).

One row per arena, one cell per pool slot, coloured by the fraction of the
pool's blocks in use; free and not-yet-carved pools are grey.  The picture
shows fragmentation at a glance: arenas kept alive by a few live blocks are
rows of grey with a handful of coloured cells.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple
from xml.sax.saxutils import escape

from ._interpreter import allocator, block_size, describe
from ._types import ArenaInfo

CELL, GAP, LABEL_WIDTH, ROW_GAP = 10, 2, 150, 4
FREE_COLOUR = "#e5e7eb"
# (upper bound of the fill fraction, colour, legend label)
FILL_SCALE: Tuple[Tuple[float, str, str], ...] = (
    (0.25, "#fde68a", "under 25% full"),
    (0.50, "#fbbf24", "25-50%"),
    (0.75, "#f97316", "50-75%"),
    (0.999999, "#dc2626", "75-99%"),
    (1.0, "#7f1d1d", "full"),
)


def fill_colour(fill: float) -> str:
    for bound, colour, _ in FILL_SCALE:
        if fill <= bound:
            return colour
    return FILL_SCALE[-1][1]


def _interpreter_title() -> str:
    return f"pymalloc arenas of {describe()} ({allocator().name})"


def arena_map_svg(arenas: Sequence[ArenaInfo], title: Optional[str] = None) -> str:
    title = title or _interpreter_title()
    width_pools = max((a.total_pools for a in arenas), default=1)
    width = LABEL_WIDTH + width_pools * (CELL + GAP) + 20
    top = 50
    legend_top = top + len(arenas) * (CELL + ROW_GAP) + 20
    height = legend_top + 70
    total_pools = sum(a.total_pools for a in arenas)
    used_pools = sum(a.used_pools for a in arenas)
    blocks = sum(a.blocks_in_use for a in arenas)
    out: List[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="monospace" font-size="11">',
        f"<title>{escape(title)}</title>",
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="10" y="22" font-size="14" font-weight="bold">{escape(title)}</text>',
        f'<text x="10" y="40">one row per arena, one cell per pool; colour = share of the pool\'s blocks in use</text>',
    ]
    for row, arena in enumerate(arenas):
        y = top + row * (CELL + ROW_GAP)
        out.append(f'<g class="arena" data-address="{arena.address:#x}">')
        out.append(f'<text x="10" y="{y + CELL - 1}">{arena.address:#014x}</text>')
        for col, pool in enumerate(arena.pools):
            x = LABEL_WIDTH + col * (CELL + GAP)
            if pool.class_index < 0:
                colour, tip = FREE_COLOUR, "free pool"
            else:
                colour = fill_colour(pool.fill)
                size = block_size(pool.class_index)
                tip = f"size class {pool.class_index} ({size} B blocks): {pool.blocks_in_use}/{pool.capacity} in use"
            out.append(f'<rect class="pool" x="{x}" y="{y}" width="{CELL}" height="{CELL}" fill="{colour}">'
                       f"<title>{escape(tip)}</title></rect>")
        out.append("</g>")
    x = 10
    out.append(f'<g class="legend" transform="translate(0,{legend_top})">')
    for colour, label in [(FREE_COLOUR, "free or not carved")] + [(c, lab) for _, c, lab in FILL_SCALE]:
        out.append(f'<rect x="{x}" y="0" width="{CELL}" height="{CELL}" fill="{colour}"/>')
        out.append(f'<text x="{x + CELL + 4}" y="{CELL - 1}">{escape(label)}</text>')
        x += CELL + 12 + 7 * len(label)
    totals = (f"{len(arenas)} arenas, {total_pools} pools ({used_pools} in use, {total_pools - used_pools} free), "
              f"{blocks:,} blocks in use")
    out.append(f'<text id="legend-totals" x="10" y="{CELL + 24}" data-arenas="{len(arenas)}" '
               f'data-pools="{total_pools}" data-used-pools="{used_pools}" data-blocks="{blocks}">'
               f"{escape(totals)}</text>")
    out.append("</g></svg>")
    return "\n".join(out)
