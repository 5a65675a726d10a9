"""The arena map: pymalloc's arenas drawn as SVG text (standard library only).

One row per arena (labelled by its place in the map and its address), one
cell per pool slot, coloured by the fraction of the pool's blocks in use,
by the type most of the pool's objects have (the block census), or by the
pool's size class; free pools and slots not carved yet are two greys.  The
fill scale has the meaning the text's fill bars have: full pools waste
nothing (dark green), nearly empty ones are fragmentation (red).  Against
an earlier map, pools that changed are outlined.  The picture shows
fragmentation at a glance: arenas kept alive by a few live blocks are rows
of grey with a handful of coloured cells, and the type colours say whose.
"""
from __future__ import annotations

from html import escape
from typing import Dict, List, Optional, Sequence, Set, Tuple

from ._interpreter import allocator, block_size, describe
from ._pymalloc import PoolTypes, pool_types
from ._serialize import type_name
from ._types import ArenaInfo

CELL, GAP, LABEL_WIDTH, ROW_GAP = 10, 2, 190, 4
FREE_COLOUR = "#d1d5db"         # a carved pool that holds nothing
NOT_CARVED_COLOUR = "#f3f4f6"   # a slot of the arena not carved into a pool yet
CHANGED_STROKE = "#111827"
# (upper bound of the fill fraction, colour, legend label): red is
# fragmentation, green a pool that wastes nothing.
FILL_SCALE: Tuple[Tuple[float, str, str], ...] = (
    (0.25, "#dc2626", "under 25% full"),
    (0.50, "#f97316", "25-50%"),
    (0.75, "#facc15", "50-75%"),
    (0.999999, "#86efac", "75-99%"),
    (1.0, "#15803d", "full"),
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


def _size_colours(arenas: Sequence[ArenaInfo]) -> Tuple[Dict[int, str], List[Tuple[str, str]]]:
    """A colour for each size class in use, light (small blocks) to dark
    (large), and the legend."""
    classes = sorted({c for a in arenas for c in a.pool_classes if c != 255})
    most = max(classes, default=0) or 1
    colours = {}
    for c in classes:
        shade = c / most                 # 0 for the smallest class, 1 for the largest
        colours[c] = f"#{int(191 - 160 * shade):02x}{int(219 - 150 * shade):02x}{int(254 - 100 * shade):02x}"
    return colours, [(colours[c], f"{block_size(c)} B") for c in classes]


def _interpreter_title() -> str:
    return f"pymalloc arenas of {describe()} ({allocator().name})"


def arena_map_svg(arenas: Sequence[ArenaInfo], title: Optional[str] = None, colour: str = "fill",
                  before: Optional[Sequence[ArenaInfo]] = None) -> str:
    title = title or _interpreter_title()
    pools: PoolTypes = {}
    colours: Dict[type, str] = {}
    size_colours: Dict[int, str] = {}
    legend = [(c, lab) for _, c, lab in FILL_SCALE]
    what = "share of the pool's blocks in use"
    if colour == "type":
        pools = pool_types()
        colours, legend = _type_colours(pools)
        what = "the type most of the pool's objects have"
    elif colour == "size":
        size_colours, legend = _size_colours(arenas)
        what = "the pool's size class (block size)"
    changed = _changed(arenas, before) if before is not None else None
    width_pools = max((a.total_pools for a in arenas), default=1)
    width = LABEL_WIDTH + width_pools * (CELL + GAP) + 20
    notes = [f"one row per arena, one cell per pool; colour = {what}"]
    if len({a.total_pools for a in arenas}) > 1:
        notes.append("an arena that does not start on a pool boundary has one pool fewer: "
                     "its first, partial pool is lost to alignment")
    if changed is not None:
        notes.append(f"outlined: {len(changed):,} pools that changed since the earlier map")
    top = 30 + 16 * len(notes)
    legend_top = top + len(arenas) * (CELL + ROW_GAP) + 20
    # The legend's swatches, placed left to right and wrapped to the width.
    placed: List[Tuple[int, int, str, str]] = []
    x, line = 10, 0
    for swatch, label in [(FREE_COLOUR, "free pool"), (NOT_CARVED_COLOUR, "not carved yet")] + legend:
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
        *[f'<text x="10" y="{40 + 16 * i}">{escape(note)}</text>' for i, note in enumerate(notes)],
    ]
    for row, arena in enumerate(arenas):
        y = top + row * (CELL + ROW_GAP)
        out.append(f'<g class="arena" data-address="{arena.address:#x}" data-index="{row}">')
        out.append(f'<text x="10" y="{y + CELL - 1}">#{row:<4} {arena.address:#014x}</text>')
        carved = len(arena.pool_classes)
        for col, pool in enumerate(arena.pools):
            x = LABEL_WIDTH + col * (CELL + GAP)
            if col >= carved:
                cell, tip = NOT_CARVED_COLOUR, "not carved into a pool yet"
            elif pool.class_index < 0:
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
                elif colour == "size":
                    cell = size_colours[pool.class_index]
            outline = ""
            if changed is not None and (arena.address, col) in changed:
                outline = f' stroke="{CHANGED_STROKE}" stroke-width="1.5" data-changed="1"'
                tip += "; changed"
            out.append(f'<rect class="pool" x="{x}" y="{y}" width="{CELL}" height="{CELL}" fill="{cell}"{outline}>'
                       f"<title>{escape(tip)}</title></rect>")
        out.append("</g>")
    out.append(f'<g class="legend" transform="translate(0,{legend_top})">')
    for x, y, swatch, label in placed:
        out.append(f'<rect x="{x}" y="{y}" width="{CELL}" height="{CELL}" fill="{swatch}" stroke="#9ca3af" '
                   f'stroke-width="0.5"/>')
        out.append(f'<text x="{x + CELL + 4}" y="{y + CELL - 1}">{escape(label)}</text>')
    totals = (f"{len(arenas)} arenas, {total_pools} pools ({used_pools} in use, {total_pools - used_pools} free), "
              f"{blocks:,} blocks in use")
    out.append(f'<text id="legend-totals" x="10" y="{legend_height + 24}" data-arenas="{len(arenas)}" '
               f'data-pools="{total_pools}" data-used-pools="{used_pools}" data-blocks="{blocks}">'
               f"{escape(totals)}</text>")
    out.append("</g></svg>")
    return "\n".join(out)


def _changed(arenas: Sequence[ArenaInfo], before: Sequence[ArenaInfo]) -> Set[Tuple[int, int]]:
    """(arena address, pool slot) of each pool whose size class or blocks in
    use differ from the earlier map (every pool of an arena it lacked)."""
    earlier = {a.address: a for a in before}
    changed: Set[Tuple[int, int]] = set()
    for arena in arenas:
        old = earlier.get(arena.address)
        old_pools = old.pools if old is not None else ()
        for col, pool in enumerate(arena.pools):
            if col >= len(old_pools) or old_pools[col] != pool:
                changed.add((arena.address, col))
    return changed
