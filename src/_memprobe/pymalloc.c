/* pymalloc.c: pymalloc's arenas, pools and size classes as data.
 *
 * 3.12+: reads the calling interpreter's struct _obmalloc_state
 * (PyInterpreterState.obmalloc: embedded in 3.12, a pointer from 3.13):
 * mgmt.{arenas, maxarenas, ntimes_arena_allocated, narenas_highwater,
 * raw_allocated_blocks} and each carved pool's header {ref.count, szidx}.
 * The walk is the one _PyObject_DebugMallocStats does, into C memory.
 *
 * 3.9-3.11 keep that state file-static, so memprobe captures the exported
 * _PyObject_DebugMallocStats(FILE *) into an in-memory stream (never file
 * descriptor 2) together with _Py_GetAllocatedBlocks(), back to back; the
 * Python layer parses the text into the same snapshot.
 *
 * Nothing here allocates from pymalloc while reading it: scratch memory
 * comes from PyMem_Raw*, and Python objects are built only afterwards.
 */
#include "parts.h"

/* Where a snapshot's numbers came from (memprobe.PymallocSnapshot.source). */
#define MP_SOURCE_STATE "obmalloc-state"
#define MP_SOURCE_REPORT "debug-malloc-stats"

/* Refuses, with a clear error, when pymalloc is not what serves objects. */
static int
require_pymalloc(mp_state *st)
{
    if (mp_require(st, MP_PART_PYMALLOC) < 0) {
        return -1;
    }
    const char *name = mp_allocator_name();
#if MP_FREE_THREADED
    (void)name;
    PyErr_SetString(st->no_pymalloc,
                    "pymalloc is not in use: free-threaded builds allocate "
                    "objects with mimalloc (see memprobe.mimalloc())");
    return -1;
#else
    if (name != NULL && strncmp(name, "pymalloc", 8) != 0) {
        PyErr_Format(st->no_pymalloc,
                     "pymalloc is not in use: the allocator is %s%s", name,
                     strncmp(name, "mimalloc", 8) == 0
                         ? " (see memprobe.mimalloc())"
                         : " (PYTHONMALLOC)");
        return -1;
    }
    return 0;
#endif
}

/* ---- 3.12+: the walk ------------------------------------------------------- */

#if MP_HAVE_OBMALLOC_STATE

typedef struct {
    size_t pools[MP_MAX_SIZE_CLASSES];
    size_t blocks[MP_MAX_SIZE_CLASSES];
    size_t free_blocks[MP_MAX_SIZE_CLASSES];
} class_counts;

/* Most pools an arena can hold: (ARENA_SIZE / POOL_SIZE). */
#define MP_MAX_POOLS_PER_ARENA (ARENA_SIZE / POOL_SIZE)

typedef struct {
    uintptr_t address;
    unsigned int total_pools, free_pools;
    class_counts counts;        /* free_blocks unused per arena */
    /* Per pool slot, in address order: size class and blocks in use, or
     * class -1 for a pool that is free or not carved yet. */
    int pool_class[MP_MAX_POOLS_PER_ARENA];
    unsigned int pool_blocks[MP_MAX_POOLS_PER_ARENA];
    unsigned int npools;
} arena_record;

typedef struct {
    size_t ntimes_arena_allocated, narenas_highwater, narenas;
    size_t raw_allocated_blocks;
    size_t free_pools, arena_alignment;
    class_counts counts;
    arena_record *arenas;       /* PyMem_Raw; NULL unless asked for */
    size_t narena_records;
} pymalloc_walk;

/* One pass over every live arena and every carved pool. */
static int
walk_pymalloc(pymalloc_walk *w, int with_arenas)
{
    mp_obmalloc_state *state = mp_obmalloc(PyInterpreterState_Get());
    mp_arena *arenas = state->mgmt.arenas;
    unsigned int maxarenas = state->mgmt.maxarenas;
    memset(w, 0, sizeof(*w));
    if (with_arenas) {
        w->arenas = PyMem_RawCalloc(maxarenas ? maxarenas : 1,
                                    sizeof(arena_record));
        if (w->arenas == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    w->ntimes_arena_allocated = state->mgmt.ntimes_arena_allocated;
    w->narenas_highwater = state->mgmt.narenas_highwater;
    w->raw_allocated_blocks = (size_t)state->mgmt.raw_allocated_blocks;
    for (unsigned int i = 0; i < maxarenas; i++) {
        uintptr_t base = arenas[i].address;
        if (base == 0) {
            continue;
        }
        arena_record *rec = with_arenas ? &w->arenas[w->narena_records++]
                                        : NULL;
        w->narenas++;
        w->free_pools += arenas[i].nfreepools;
        if (rec) {
            rec->address = base;
            rec->total_pools = arenas[i].ntotalpools;
            rec->free_pools = arenas[i].nfreepools;
        }
        if (base & (uintptr_t)POOL_SIZE_MASK) {
            w->arena_alignment += POOL_SIZE;
            base = (base & ~(uintptr_t)POOL_SIZE_MASK) + POOL_SIZE;
        }
        for (; base < (uintptr_t)arenas[i].pool_address; base += POOL_SIZE) {
            mp_pool *pool = (mp_pool *)base;
            unsigned int count = pool->ref.count;
            unsigned int sz = pool->szidx;
            int slot = rec && rec->npools < MP_MAX_POOLS_PER_ARENA;
            if (slot) {
                rec->pool_class[rec->npools] = -1;
                rec->pool_blocks[rec->npools] = 0;
            }
            if (count == 0 || sz >= MP_MAX_SIZE_CLASSES) {
                if (slot) {
                    rec->npools++;
                }
                continue;       /* free (cached) pool */
            }
            if (slot) {
                rec->pool_class[rec->npools] = (int)sz;
                rec->pool_blocks[rec->npools] = count;
                rec->npools++;
            }
            w->counts.pools[sz]++;
            w->counts.blocks[sz] += count;
            w->counts.free_blocks[sz] += NUMBLOCKS(sz) - count;
            if (rec) {
                rec->counts.pools[sz]++;
                rec->counts.blocks[sz] += count;
            }
        }
    }
    return 0;
}

static PyObject *
classes_list(const class_counts *c, int with_free)
{
    PyObject *list = PyList_New(0);
    for (int i = 0; list != NULL && i < MP_MAX_SIZE_CLASSES; i++) {
        if (c->pools[i] == 0) {
            continue;
        }
        PyObject *item = with_free
            ? Py_BuildValue("(iInnn)", i, (unsigned int)INDEX2SIZE(i),
                            (Py_ssize_t)c->pools[i], (Py_ssize_t)c->blocks[i],
                            (Py_ssize_t)c->free_blocks[i])
            : Py_BuildValue("(iInn)", i, (unsigned int)INDEX2SIZE(i),
                            (Py_ssize_t)c->pools[i], (Py_ssize_t)c->blocks[i]);
        if (item == NULL || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            Py_CLEAR(list);
        }
        Py_XDECREF(item);
    }
    return list;
}

/* Turns a finished walk into a plain dict for the Python layer. */
static PyObject *
walk_to_dict(const pymalloc_walk *w)
{
    size_t allocated = 0, available = 0, headers = 0, quantization = 0;
    for (int i = 0; i < MP_MAX_SIZE_CLASSES; i++) {
        size_t size = INDEX2SIZE(i);
        allocated += w->counts.blocks[i] * size;
        available += w->counts.free_blocks[i] * size;
        headers += w->counts.pools[i] * MP_POOL_OVERHEAD;
        quantization += w->counts.pools[i]
                        * ((POOL_SIZE - MP_POOL_OVERHEAD) % size);
    }
    PyObject *arenas = Py_NewRef(Py_None);
    if (w->arenas != NULL) {
        Py_SETREF(arenas, PyList_New(0));
        for (size_t i = 0; arenas != NULL && i < w->narena_records; i++) {
            const arena_record *r = &w->arenas[i];
            PyObject *classes = classes_list(&r->counts, 0);
            PyObject *pools = classes ? PyTuple_New(r->total_pools) : NULL;
            for (unsigned int j = 0; pools != NULL && j < r->total_pools; j++) {
                /* Slots past the carved ones are pools not carved yet. */
                int sz = j < r->npools ? r->pool_class[j] : -1;
                unsigned int capacity = sz >= 0 ? NUMBLOCKS(sz) : 0;
                PyObject *pool = Py_BuildValue(
                    "(iII)", sz, j < r->npools ? r->pool_blocks[j] : 0, capacity);
                if (pool == NULL) {
                    Py_CLEAR(pools);
                    break;
                }
                PyTuple_SET_ITEM(pools, j, pool);
            }
            PyObject *item = pools == NULL ? NULL : Py_BuildValue(
                "(KIINN)", (unsigned long long)r->address, r->total_pools,
                r->free_pools, classes, pools);
            if (pools == NULL) {
                Py_XDECREF(classes);
            }
            if (item == NULL || PyList_Append(arenas, item) < 0) {
                Py_CLEAR(arenas);
            }
            Py_XDECREF(item);
        }
        if (arenas == NULL) {
            return NULL;
        }
    }
    PyObject *classes = classes_list(&w->counts, 1);
    if (classes == NULL) {
        Py_DECREF(arenas);
        return NULL;
    }
    return Py_BuildValue(
        "{ss sz sn sn sn sn sn sn sn sn sn sn sn sN sN}",
        "source", MP_SOURCE_STATE,
        "allocator", mp_allocator_name(),
        "arenas_allocated_total", (Py_ssize_t)w->ntimes_arena_allocated,
        "arenas_highwater", (Py_ssize_t)w->narenas_highwater,
        "arenas_current", (Py_ssize_t)w->narenas,
        "raw_allocated_blocks", (Py_ssize_t)w->raw_allocated_blocks,
        "unused_pools", (Py_ssize_t)w->free_pools,
        "bytes_in_allocated_blocks", (Py_ssize_t)allocated,
        "bytes_in_available_blocks", (Py_ssize_t)available,
        "bytes_in_unused_pools", (Py_ssize_t)(w->free_pools * POOL_SIZE),
        "bytes_lost_to_pool_headers", (Py_ssize_t)headers,
        "bytes_lost_to_quantization", (Py_ssize_t)quantization,
        "bytes_lost_to_arena_alignment", (Py_ssize_t)w->arena_alignment,
        "size_classes", classes,
        "arenas", arenas);
}

#endif /* MP_HAVE_OBMALLOC_STATE */

/* ---- The report as text (every version) -------------------------------------- */

/* (text, allocated_blocks): the interpreter's report and the block count
 * behind sys.getallocatedblocks(), read back to back. */
static PyObject *
report_and_blocks(void)
{
    size_t length = 0;
    char *text = mp_capture_malloc_stats(&length);
    if (text == NULL) {
        return NULL;
    }
#if PY_VERSION_HEX < 0x030C0000
    Py_ssize_t blocks = mp_allocated_blocks();
    PyObject *result = Py_BuildValue("(y#n)", text, (Py_ssize_t)length, blocks);
#else
    /* sys.getallocatedblocks reads before it allocates its result. */
    PyObject *sys_blocks = PySys_GetObject("getallocatedblocks");
    PyObject *blocks = sys_blocks ? PyObject_CallNoArgs(sys_blocks) : NULL;
    PyObject *result = blocks ? Py_BuildValue("(y#N)", text, (Py_ssize_t)length,
                                              blocks) : NULL;
#endif
    free(text);
    return result;
}

#if !MP_HAVE_OBMALLOC_STATE
/* The raw snapshot of 3.9-3.11, from a (text, allocated_blocks) report:
 * the Python layer parses the text. */
static PyObject *
report_to_raw(PyObject *report)
{
    return Py_BuildValue("{ss sz sO sO}", "source", MP_SOURCE_REPORT,
                         "allocator", mp_allocator_name(),
                         "text", PyTuple_GET_ITEM(report, 0),
                         "allocated_blocks", PyTuple_GET_ITEM(report, 1));
}
#endif

/* ---- Entry points ------------------------------------------------------------ */

/* _pymalloc_gather(with_arenas): the raw snapshot; the source says how. */
PyObject *
mp_pymalloc_gather(PyObject *module, PyObject *arg)
{
    mp_state *st = mp_get_state(module);
    int with_arenas = PyObject_IsTrue(arg);
    if (with_arenas < 0 || require_pymalloc(st) < 0) {
        return NULL;
    }
#if MP_HAVE_OBMALLOC_STATE
    pymalloc_walk w;
    if (walk_pymalloc(&w, with_arenas) < 0) {
        return NULL;
    }
    PyObject *raw = walk_to_dict(&w);
    PyMem_RawFree(w.arenas);
    return raw;
#else
    if (with_arenas) {
        PyErr_Format(st->unsupported,
                     "per-arena data needs CPython 3.12+: before 3.12 "
                     "pymalloc's arena table is file-static in obmalloc.c "
                     "and not reachable from an extension (running CPython %s)",
                     mp_version_text(st));
        return NULL;
    }
    PyObject *report = report_and_blocks();
    if (report == NULL) {
        return NULL;
    }
    PyObject *raw = report_to_raw(report);
    Py_DECREF(report);
    return raw;
#endif
}

/* Test helper: the snapshot and what the interpreter itself reports, read
 * back to back before anything is built: (raw, text, getallocatedblocks). */
PyObject *
mp_pymalloc_gather_with_report(PyObject *module, PyObject *unused)
{
    mp_state *st = mp_get_state(module);
    if (require_pymalloc(st) < 0) {
        return NULL;
    }
#if MP_HAVE_OBMALLOC_STATE
    pymalloc_walk w;
    if (walk_pymalloc(&w, 1) < 0) {
        return NULL;
    }
    PyObject *report = report_and_blocks();
    PyObject *raw = report ? walk_to_dict(&w) : NULL;
    PyMem_RawFree(w.arenas);
    if (raw == NULL) {
        Py_XDECREF(report);
        return NULL;
    }
    PyObject *result = Py_BuildValue("(NOO)", raw, PyTuple_GET_ITEM(report, 0),
                                     PyTuple_GET_ITEM(report, 1));
    Py_DECREF(report);
    return result;
#else
    PyObject *report = report_and_blocks();
    if (report == NULL) {
        return NULL;
    }
    PyObject *raw = report_to_raw(report);
    PyObject *result = raw ? Py_BuildValue("(NOO)", raw, PyTuple_GET_ITEM(report, 0),
                                           PyTuple_GET_ITEM(report, 1)) : NULL;
    Py_DECREF(report);
    return result;
#endif
}

/* _block_info(obj): where obj's memory block sits in pymalloc (3.12+). */
PyObject *
mp_block_info(PyObject *module, PyObject *obj)
{
    mp_state *st = mp_get_state(module);
    if (require_pymalloc(st) < 0) {
        return NULL;
    }
#if MP_HAVE_OBMALLOC_STATE
    const char *name = mp_allocator_name();
    int debug = name ? strcmp(name, "pymalloc_debug") == 0 : MP_DEBUG_BUILD;
    Py_ssize_t preheader = mp_preheader_size(Py_TYPE(obj));
    Py_ssize_t padding = debug ? MP_DEBUG_FRONT_BYTES : 0;
    uintptr_t block = (uintptr_t)obj - (uintptr_t)preheader - (uintptr_t)padding;

    mp_obmalloc_state *state = mp_obmalloc(PyInterpreterState_Get());
    mp_arena *arenas = state->mgmt.arenas;
    unsigned int maxarenas = state->mgmt.maxarenas;
    int found = 0;
    unsigned int arena_index = 0, szidx = 0;
    uintptr_t arena_address = 0, pool_address = 0;
    /* Prove the block lies in a carved, in-use pool of a live arena before
     * reading anything there. */
    for (unsigned int i = 0; i < maxarenas && !found; i++) {
        uintptr_t start = arenas[i].address;
        if (start == 0 || block < start || block >= start + ARENA_SIZE) {
            continue;
        }
        uintptr_t pool = block & ~(uintptr_t)POOL_SIZE_MASK;
        uintptr_t first = (start + POOL_SIZE_MASK) & ~(uintptr_t)POOL_SIZE_MASK;
        if (pool < first || pool >= (uintptr_t)arenas[i].pool_address) {
            break;
        }
        mp_pool *p = (mp_pool *)pool;
        if (p->ref.count == 0 || p->arenaindex != i
            || p->szidx >= MP_MAX_SIZE_CLASSES
            || block < pool + MP_POOL_OVERHEAD) {
            break;
        }
        found = 1;
        arena_index = i;
        arena_address = start;
        pool_address = pool;
        szidx = p->szidx;
    }
    if (!found) {
        return Py_BuildValue("{sO sn sn}", "pymalloc", Py_False,
                             "preheader", preheader, "debug_padding", padding);
    }
    return Py_BuildValue(
        "{sO sn sn sK sI sK sI sI sK}",
        "pymalloc", Py_True,
        "preheader", preheader,
        "debug_padding", padding,
        "arena", (unsigned long long)arena_address,
        "arena_index", arena_index,
        "pool", (unsigned long long)pool_address,
        "size_class", szidx,
        "block_size", (unsigned int)INDEX2SIZE(szidx),
        "block", (unsigned long long)block);
#else
    PyErr_Format(st->unsupported,
                 "block_info() needs CPython 3.12+: before 3.12 pymalloc's "
                 "arena table is file-static in obmalloc.c and not reachable "
                 "from an extension (running CPython %s)", mp_version_text(st));
    return NULL;
#endif
}
