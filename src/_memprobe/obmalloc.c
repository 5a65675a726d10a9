/* obmalloc.c: which pymalloc block an object lives in, read from the block.
 *
 * 3.12+: looks an address up in the calling interpreter's arena table
 * (struct _obmalloc_state: mgmt.arenas[].address, pool_address) and in the
 * header of the pool it falls in (ref.count, arenaindex, szidx), and reads
 * the pymalloc_debug layer's front words where they would sit: a size_t,
 * the API id byte ('o' for objects, 'm' for PyMem) and PYMEM_FORBIDDENBYTE
 * padding (Objects/obmalloc.c: _PyMem_DebugRawAlloc).  Nothing is read
 * outside a carved, in-use pool of a live arena.  Before 3.12 the arena
 * table is file-static in Objects/obmalloc.c: nothing can be told.
 */
#include "parts.h"

#if MP_HAVE_OBMALLOC_STATE

/* 1 when address is the start of a block of a carved, in-use pool of a
 * live arena (filling *where), else 0. */
static int
block_at(uintptr_t address, mp_block_location *where)
{
    mp_obmalloc_state *state = mp_obmalloc(PyInterpreterState_Get());
    mp_arena *arenas = state->mgmt.arenas;
    unsigned int maxarenas = state->mgmt.maxarenas;
    for (unsigned int i = 0; i < maxarenas; i++) {
        uintptr_t start = arenas[i].address;
        if (start == 0 || address < start || address >= start + ARENA_SIZE) {
            continue;
        }
        uintptr_t pool = address & ~(uintptr_t)POOL_SIZE_MASK;
        if (pool < mp_first_pool(start)
            || pool >= (uintptr_t)arenas[i].pool_address) {
            return 0;
        }
        mp_pool *p = (mp_pool *)pool;
        if (!mp_pool_in_use(p) || p->arenaindex != i) {
            return 0;
        }
        uintptr_t size = INDEX2SIZE(p->szidx);
        uintptr_t offset = address - pool;
        if (offset < MP_POOL_OVERHEAD
            || (offset - MP_POOL_OVERHEAD) % size != 0
            || (offset - MP_POOL_OVERHEAD) / size >= NUMBLOCKS(p->szidx)) {
            return 0;
        }
        where->arena = start;
        where->arena_index = i;
        where->pool = pool;
        where->size_class = p->szidx;
        return 1;
    }
    return 0;
}

int
mp_pymalloc_block_of(PyObject *op, mp_block_location *where)
{
    uintptr_t start = (uintptr_t)op - (uintptr_t)mp_preheader_size(Py_TYPE(op));
    uintptr_t debug_start = start - MP_DEBUG_FRONT_BYTES;
    if (block_at(debug_start, where)
        && mp_debug_api_id((const unsigned char *)debug_start,
                           (size_t)MP_DEBUG_FRONT_BYTES)) {
        where->debug_padding = MP_DEBUG_FRONT_BYTES;
        return 1;
    }
    if (block_at(start, where)) {
        where->debug_padding = 0;
        return 1;
    }
    return 0;
}

#else

int
mp_pymalloc_block_of(PyObject *op, mp_block_location *where)
{
    (void)op;
    (void)where;
    return -1;
}

#endif /* MP_HAVE_OBMALLOC_STATE */
