"""The arena map: pymalloc's arenas drawn as SVG text (standard library only).

One row per arena, one cell per pool slot, coloured by the fraction of the
pool's blocks in use, or by the type most of the pool's objects have (the
block census); free and not-yet-carved pools are grey.  The picture shows
fragmentation at a glance: arenas kept alive by a few live blocks are rows
of grey with a handful of coloured cells, and the type colours say whose.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple
from xml.sax.saxutils import escape

from ._interpreter import allocator, block_size, describe
from ._pymalloc import PoolTypes, pool_types
from ._serialize import type_name
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


# Colours of the types holding the most pools, in that order; the rest
# share OTHER_TYPES_COLOUR.
TYPE_COLOURS = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
                "#9c755f")
OTHER_TYPES_COLOUR = "#bab0ac"
NO_OBJECT_COLOUR = "#374151"     # a pool in use whose blocks hold no object of a known type


def _type_colours(pools: PoolTypes) -> Tuple[Dict[type, str], List[Tuple[str, str]]]:
    """A colour for each of the types holding the most pools, and the
    legend: (colour, label) pairs."""
    counts: Dict[type, int] = {}
    for tp, _, _ in pools.values():
        if tp is not None:
            counts[tp] = counts.get(tp, 0) + 1
    # Most pools first; types compared by name only when counts tie (no
    # user __lt__ runs).
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], type_name(kv[0])))
    colours = {tp: colour for (tp, _), colour in zip(ranked, TYPE_COLOURS)}
    legend = [(colours[tp], f"{type_name(tp)} ({n:,} pools)") for tp, n in ranked[:len(TYPE_COLOURS)]]
    if len(ranked) > len(TYPE_COLOURS):
        legend.append((OTHER_TYPES_COLOUR, "other types"))
    legend.append((NO_OBJECT_COLOUR, "no object of a known type"))
    return colours, legend


def _interpreter_title() -> str:
    return f"pymalloc arenas of {describe()} ({allocator().name})"


def arena_map_svg(arenas: Sequence[ArenaInfo], title: Optional[str] = None, colour: str = "fill") -> str:
    title = title or _interpreter_title()
    pools: PoolTypes = {}
    colours: Dict[type, str] = {}
    legend = [(c, lab) for _, c, lab in FILL_SCALE]
    if colour == "type":
        pools = pool_types()
        colours, legend = _type_colours(pools)
    width_pools = max((a.total_pools for a in arenas), default=1)
    width = LABEL_WIDTH + width_pools * (CELL + GAP) + 20
    top = 50
    legend_top = top + len(arenas) * (CELL + ROW_GAP) + 20
    # The legend's swatches, placed left to right and wrapped to the width.
    placed: List[Tuple[int, int, str, str]] = []
    x, line = 10, 0
    for swatch, label in [(FREE_COLOUR, "free or not carved")] + legend:
        step = CELL + 12 + 7 * len(label)
        if x > 10 and x + step > width:
            x, line = 10, line + 1
        placed.append((x, line * (CELL + 8), swatch, label))
        x += step
    legend_height = (line + 1) * (CELL + 8)
    height = legend_top + legend_height + 50
    total_pools = sum(a.total_pools for a in arenas)
    used_pools = sum(a.used_pools for a in arenas)
    blocks = sum(a.blocks_in_use for a in arenas)
    out: List[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="monospace" font-size="11">',
        f"<title>{escape(title)}</title>",
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="10" y="22" font-size="14" font-weight="bold">{escape(title)}</text>',
        f'<text x="10" y="40">one row per arena, one cell per pool; colour = '
        + ("the type most of the pool\'s objects have" if colour == "type" else "share of the pool\'s blocks in use")
        + "</text>",
    ]
    for row, arena in enumerate(arenas):
        y = top + row * (CELL + ROW_GAP)
        out.append(f'<g class="arena" data-address="{arena.address:#x}">')
        out.append(f'<text x="10" y="{y + CELL - 1}">{arena.address:#014x}</text>')
        for col, pool in enumerate(arena.pools):
            x = LABEL_WIDTH + col * (CELL + GAP)
            if pool.class_index < 0:
                cell, tip = FREE_COLOUR, "free pool"
            else:
                cell = fill_colour(pool.fill)
                size = block_size(pool.class_index)
                tip = f"size class {pool.class_index} ({size} B blocks): {pool.blocks_in_use}/{pool.capacity} in use"
                if colour == "type":
                    tp, n, objects = pools.get((arena.address, col), (None, 0, 0))
                    cell = NO_OBJECT_COLOUR if tp is None else colours.get(tp, OTHER_TYPES_COLOUR)
                    tip += (f"; no object of a known type" if tp is None else
                            f"; {n:,} {type_name(tp)} of {objects:,} objects")
            out.append(f'<rect class="pool" x="{x}" y="{y}" width="{CELL}" height="{CELL}" fill="{cell}">'
                       f"<title>{escape(tip)}</title></rect>")
        out.append("</g>")
    out.append(f'<g class="legend" transform="translate(0,{legend_top})">')
    for x, y, swatch, label in placed:
        out.append(f'<rect x="{x}" y="{y}" width="{CELL}" height="{CELL}" fill="{swatch}"/>')
        out.append(f'<text x="{x + CELL + 4}" y="{y + CELL - 1}">{escape(label)}</text>')
    totals = (f"{len(arenas)} arenas, {total_pools} pools ({used_pools} in use, {total_pools - used_pools} free), "
              f"{blocks:,} blocks in use")
    out.append(f'<text id="legend-totals" x="10" y="{legend_height + 24}" data-arenas="{len(arenas)}" '
               f'data-pools="{total_pools}" data-used-pools="{used_pools}" data-blocks="{blocks}">'
               f"{escape(totals)}</text>")
    out.append("</g></svg>")
    return "\n".join(out)
