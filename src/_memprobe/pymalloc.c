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
 * A copy of another process's state (remote.c: its counters, its arena
 * table, its pool headers) is walked by the same code on every version,
 * with 3.9-3.11's struct arena_object and struct pool_header as compat.h
 * declares them.
 *
 * Nothing here allocates from pymalloc while reading it: scratch memory
 * comes from PyMem_Raw*, and Python objects are built only afterwards
 * (mp_pymalloc_read, then mp_pymalloc_build or, for a snapshot's baseline,
 * mp_pymalloc_pack, which allocates nothing at all).
 */
#include "parts.h"

int
mp_pymalloc_serves(mp_state *st, mp_refusal *r)
{
    if (!mp_check_part(st, MP_PART_PYMALLOC, r)) {
        return 0;
    }
    mp_allocator a;
    mp_current_allocator(&a);
    if (MP_FREE_THREADED) {
        return mp_refuse(r, st->no_pymalloc,
                         "pymalloc is not in use: free-threaded builds "
                         "allocate objects with mimalloc (see "
                         "memprobe.mimalloc())");
    }
    if (a.family == MP_ALLOC_OTHER) {
        return mp_refuse(r, st->no_pymalloc,
                         "pymalloc is not in use: hooks (such as "
                         "tracemalloc) wrap an allocator that is not "
                         "pymalloc");
    }
    if (a.family == MP_ALLOC_MALLOC || a.family == MP_ALLOC_MIMALLOC) {
        return mp_refuse(r, st->no_pymalloc,
                         "pymalloc is not in use: the allocator is %s%s",
                         a.name, a.family == MP_ALLOC_MIMALLOC
                             ? " (see memprobe.mimalloc())" : " (PYTHONMALLOC)");
    }
    return 1;
}

/* The module's state once pymalloc serves objects, else NULL with the
 * refusal raised. */
static mp_state *
pymalloc_state(PyObject *module)
{
    mp_state *st = mp_module_state(module);
    mp_refusal r;
    if (st != NULL && !mp_pymalloc_serves(st, &r)) {
        mp_raise_refusal(st, &r);
        return NULL;
    }
    return st;
}

#if !MP_HAVE_OBMALLOC_STATE
/* Raises UnsupportedInterpreter: what is asked needs pymalloc's state,
 * which before 3.12 is file-static in Objects/obmalloc.c. */
static PyObject *
state_unreachable(mp_state *st, const char *what)
{
    PyErr_Format(st->unsupported,
                 "%s needs CPython 3.12+: before 3.12 pymalloc's arena table "
                 "is file-static in obmalloc.c and not reachable from an "
                 "extension (running CPython %s)", what, mp_version_text(st));
    return NULL;
}
#endif

/* ---- The walk: of this process (3.12+) or of a copy (every version) ------- */

#if MP_HAVE_POOL_LAYOUT

typedef struct {
    uintptr_t address;
    unsigned int total_pools, free_pools;
    /* Per carved pool slot, in address order: size class and blocks in
     * use, or class -1 for a pool that is free. */
    int pool_class[MP_MAX_POOLS_PER_ARENA];
    unsigned int pool_blocks[MP_MAX_POOLS_PER_ARENA];
    unsigned int npools;
    Py_ssize_t resident;        /* pages resident (mincore), -1: unknown */
} arena_record;

typedef struct {
    size_t ntimes_arena_allocated, narenas_highwater, narenas;
    size_t raw_allocated_blocks, free_pools, misaligned_arenas;
    size_t pools[MP_MAX_SIZE_CLASSES];
    size_t blocks[MP_MAX_SIZE_CLASSES];
    arena_record *arenas;       /* PyMem_Raw; NULL unless asked for */
    size_t narena_records;
} pymalloc_walk;

/* One pass over every live arena and every carved pool: the walk
 * _PyObject_DebugMallocStats does, into C memory.  totals and arenas are
 * the state's counters and its arena table; src says where the pools'
 * headers are read (NULL: this process's, in place).  0; -1 with an error
 * set; or src's errno.  A copy is checked as it is walked: a pool header
 * that does not belong where it was read, or an arena whose pools do not
 * add up to its counts (a target changing its arenas under the reading)
 * sets *problem and ends the walk with 0. */
static int
walk_pymalloc(pymalloc_walk *w, const mp_pymalloc_totals *totals,
              const mp_arena *arenas, const mp_pool_source *src,
              int with_arenas, const char **problem)
{
    unsigned int maxarenas = totals->maxarenas;
    mp_pool headers[MP_MAX_POOLS_PER_ARENA];
    memset(w, 0, sizeof(*w));
    *problem = NULL;
    if (with_arenas) {
        /* A record per live arena, not per slot of the table (a copy's
         * table may be large and mostly empty). */
        size_t live = 0;
        for (unsigned int i = 0; i < maxarenas; i++) {
            live += arenas[i].address != 0;
        }
        w->arenas = PyMem_RawCalloc(live ? live : 1, sizeof(arena_record));
        if (w->arenas == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    w->ntimes_arena_allocated = totals->ntimes_arena_allocated;
    w->narenas_highwater = totals->narenas_highwater;
    w->raw_allocated_blocks = (size_t)totals->raw_allocated_blocks;
    for (unsigned int i = 0; i < maxarenas; i++) {
        uintptr_t base = arenas[i].address;
        if (base == 0) {
            continue;
        }
        uintptr_t first = mp_first_pool(base);
        uintptr_t end = (uintptr_t)arenas[i].pool_address;
        if (src != NULL) {
            if (end < first || end - first > MP_ARENA_SIZE - (first - base)
                || (end - first) % MP_POOL_SIZE != 0) {
                *problem = "an arena's carved pools ran past its end";
                return 0;
            }
            unsigned int n = (unsigned int)((end - first) / MP_POOL_SIZE);
            int e = n ? src->read(src->ctx, first, n, headers) : 0;
            if (e != 0) {
                return e;
            }
        }
        arena_record *rec = with_arenas ? &w->arenas[w->narena_records++]
                                        : NULL;
        w->narenas++;
        w->free_pools += arenas[i].nfreepools;
        if (rec) {
            rec->address = base;
            rec->total_pools = arenas[i].ntotalpools;
            rec->free_pools = arenas[i].nfreepools;
            rec->resident = src ? -1 : mp_resident_pages(base, MP_ARENA_SIZE);
        }
        w->misaligned_arenas += first != base;
        unsigned int empty = 0;         /* carved pools holding no block */
        for (unsigned int k = 0; first + (uintptr_t)k * MP_POOL_SIZE < end; k++) {
            const mp_pool *pool = src ? &headers[k]
                                      : (const mp_pool *)(first + (uintptr_t)k * MP_POOL_SIZE);
            unsigned int count = pool->ref.count;
            unsigned int sz = pool->szidx;
            int in_use = mp_pool_in_use(pool);
            /* A copy is checked: the pool must name its arena, and a pool
             * holding blocks a class it has, and room for them. */
            if (src != NULL && (pool->arenaindex != i
                                || (count > 0 && sz >= MP_MAX_SIZE_CLASSES)
                                || (in_use && count > mp_pool_capacity(sz)))) {
                *problem = "a pool's header does not match its arena";
                return 0;
            }
            if (rec && rec->npools < MP_MAX_POOLS_PER_ARENA) {
                rec->pool_class[rec->npools] = in_use ? (int)sz : -1;
                rec->pool_blocks[rec->npools] = in_use ? count : 0;
                rec->npools++;
            }
            if (in_use) {
                w->pools[sz]++;
                w->blocks[sz] += count;
            }
            empty += count == 0;
        }
        /* A copy's arena must hold its pools' worth (one fewer when its
         * start is not pool-aligned), and count as free each pool not yet
         * carved and each carved one that is empty (obmalloc.c keeps it on
         * the arena's freepools list). */
        unsigned int total = MP_MAX_POOLS_PER_ARENA - (first != base);
        unsigned int carved = (unsigned int)((end - first) / MP_POOL_SIZE);
        if (src != NULL && (arenas[i].ntotalpools != total
                            || arenas[i].nfreepools != total - carved + empty)) {
            *problem = "an arena's counts of pools do not match its pools";
            return 0;
        }
    }
    return 0;
}

#if MP_HAVE_OBMALLOC_STATE
/* This process's own state, walked in place (3.12+). */
static int
walk_own(pymalloc_walk *w, int with_arenas)
{
    struct _obmalloc_mgmt *mgmt = &mp_obmalloc(PyInterpreterState_Get())->mgmt;
    mp_pymalloc_totals totals = {mgmt->maxarenas, mgmt->ntimes_arena_allocated,
                                 mgmt->narenas_highwater,
                                 mgmt->raw_allocated_blocks};
    const char *problem;
    return walk_pymalloc(w, &totals, mgmt->arenas, NULL, with_arenas,
                         &problem);
}
#endif

/* What _PyObject_DebugMallocStats (Objects/obmalloc.c) derives from the
 * same walk, per size class and in bytes, so that Python only types it. */
typedef struct {
    size_t size[MP_MAX_SIZE_CLASSES];       /* block size */
    size_t free[MP_MAX_SIZE_CLASSES];       /* free blocks in used pools */
    size_t bytes[MP_PYMALLOC_BYTE_COUNTS];  /* in PymallocSnapshot's order */
} pymalloc_derived;

static void
derive(const pymalloc_walk *w, pymalloc_derived *d)
{
    size_t allocated = 0, available = 0, quantization = 0, used_pools = 0;
    for (int i = 0; i < MP_MAX_SIZE_CLASSES; i++) {
        d->size[i] = mp_block_size(i);
        d->free[i] = w->pools[i] * mp_pool_capacity(i) - w->blocks[i];
        allocated += w->blocks[i] * d->size[i];
        available += d->free[i] * d->size[i];
        quantization += w->pools[i] * ((MP_POOL_SIZE - MP_POOL_OVERHEAD) % d->size[i]);
        used_pools += w->pools[i];
    }
    d->bytes[0] = allocated;                            /* in allocated blocks */
    d->bytes[1] = available;                            /* in available blocks */
    d->bytes[2] = w->free_pools * MP_POOL_SIZE;            /* in unused pools */
    d->bytes[3] = used_pools * MP_POOL_OVERHEAD;        /* pool headers */
    d->bytes[4] = quantization;
    d->bytes[5] = w->misaligned_arenas * MP_POOL_SIZE;     /* arena alignment */
}

/* One arena as (address, total_pools, free_pools, pool_classes,
 * pool_blocks, resident_pages): two bytes objects over its carved pool slots, one byte per
 * pool (its size class, 255 for a free pool) and two per pool (blocks in
 * use, little-endian), and the arena's pages resident in memory (mincore;
 * None when not known: a count of pages, not bytes, is a cached small int).  Compact, so that reading the arenas does not fill
 * the holes it measures with an object per pool. */
static PyObject *
arena_tuple(const arena_record *r)
{
    unsigned char classes[MP_MAX_POOLS_PER_ARENA];
    unsigned char blocks[2 * MP_MAX_POOLS_PER_ARENA];
    for (unsigned int j = 0; j < r->npools; j++) {
        classes[j] = r->pool_class[j] < 0 ? 255 : (unsigned char)r->pool_class[j];
        blocks[2 * j] = (unsigned char)(r->pool_blocks[j] & 0xFF);
        blocks[2 * j + 1] = (unsigned char)(r->pool_blocks[j] >> 8);
    }
    PyObject *resident = r->resident < 0 ? Py_NewRef(Py_None)
                                         : PyLong_FromSsize_t(r->resident);
    return resident ? Py_BuildValue("(KIIy#y#N)", (unsigned long long)r->address,
                                    r->total_pools, r->free_pools,
                                    (const char *)classes, (Py_ssize_t)r->npools,
                                    (const char *)blocks,
                                    (Py_ssize_t)(2 * r->npools), resident)
                    : NULL;
}

/* The walk as plain data (see MP_PYMALLOC_STATE in parts.h): the counts,
 * the flat class rows, the six byte counts, and the arenas (None, or one
 * arena_tuple per live arena). */
static PyObject *
walk_tuple(const pymalloc_walk *w)
{
    pymalloc_derived d;
    derive(w, &d);
    Py_ssize_t nclasses = 0;
    for (int i = 0; i < MP_MAX_SIZE_CLASSES; i++) {
        nclasses += w->pools[i] > 0;
    }
    PyObject *classes = PyTuple_New(MP_CLASS_ROW * nclasses);
    for (int i = 0, n = 0; classes != NULL && i < MP_MAX_SIZE_CLASSES; i++) {
        if (w->pools[i] == 0) {
            continue;
        }
        size_t row[MP_CLASS_ROW] = {(size_t)i, d.size[i], w->pools[i],
                                    w->blocks[i], d.free[i]};
        for (int k = 0; k < MP_CLASS_ROW; k++) {
            PyObject *v = PyLong_FromSize_t(row[k]);
            if (v == NULL) {
                Py_CLEAR(classes);
                break;
            }
            PyTuple_SET_ITEM(classes, n++, v);
        }
    }
    PyObject *arenas = w->arenas ? PyTuple_New((Py_ssize_t)w->narena_records)
                                 : Py_NewRef(Py_None);
    for (size_t i = 0; w->arenas && arenas && i < w->narena_records; i++) {
        PyObject *arena = arena_tuple(&w->arenas[i]);
        if (arena == NULL) {
            Py_CLEAR(arenas);
            break;
        }
        PyTuple_SET_ITEM(arenas, (Py_ssize_t)i, arena);
    }
    PyObject *result = NULL;
    if (classes != NULL && arenas != NULL) {
        result = Py_BuildValue(
            "(nnnnnOnnnnnnO)", (Py_ssize_t)w->ntimes_arena_allocated,
            (Py_ssize_t)w->narenas_highwater, (Py_ssize_t)w->narenas,
            (Py_ssize_t)w->raw_allocated_blocks, (Py_ssize_t)w->free_pools,
            classes, (Py_ssize_t)d.bytes[0], (Py_ssize_t)d.bytes[1],
            (Py_ssize_t)d.bytes[2], (Py_ssize_t)d.bytes[3],
            (Py_ssize_t)d.bytes[4], (Py_ssize_t)d.bytes[5], arenas);
    }
    Py_XDECREF(classes);
    Py_XDECREF(arenas);
    return result;
}

#endif /* MP_HAVE_POOL_LAYOUT */

/* ---- The interpreter's report, captured (every version) --------------------- */

/* Captures that fail with OSError (as when no stream can be opened), for
 * the tests (_fail_report_captures). */
static int failing_captures = 0;

PyObject *
mp_fail_report_captures(PyObject *module, PyObject *count)
{
    (void)module;
    long n = PyLong_Check(count) ? PyLong_AsLong(count) : -1;
    if (n < 0 || n > INT_MAX) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "a count of captures to fail");
        }
        return NULL;
    }
    failing_captures = (int)n;
    Py_RETURN_NONE;
}

char *
mp_capture_malloc_stats(size_t *length)
{
    char *buffer = NULL;
    if (failing_captures > 0) {
        failing_captures--;
        errno = EMFILE;
        PyErr_SetFromErrno(PyExc_OSError);
        return NULL;
    }
#ifdef MS_WINDOWS
    FILE *out = tmpfile();
    if (out == NULL) {
        PyErr_SetFromErrno(PyExc_OSError);
        return NULL;
    }
    mp_debug_malloc_stats(out);
    long size = ftell(out);
    buffer = size >= 0 ? (char *)malloc((size_t)size + 1) : NULL;
    if (buffer != NULL) {
        rewind(out);
        *length = fread(buffer, 1, (size_t)size, out);
        buffer[*length] = '\0';
    }
    fclose(out);
#else
    size_t size = 0;
    FILE *out = open_memstream(&buffer, &size);
    if (out == NULL) {
        PyErr_SetFromErrno(PyExc_OSError);
        return NULL;
    }
    mp_debug_malloc_stats(out);
    if (fclose(out) != 0) {
        free(buffer);
        PyErr_SetFromErrno(PyExc_OSError);
        return NULL;
    }
    *length = size;
#endif
    if (buffer == NULL) {
        PyErr_NoMemory();
    }
    return buffer;
}

Py_ssize_t
mp_blocks_counted(Py_ssize_t count)
{
    return count == 0 ? MP_BLOCKS_NOT_COUNTED : count;
}

Py_ssize_t
mp_allocated_blocks_now(mp_state *st)
{
    Py_ssize_t blocks = mp_allocated_blocks();
    if (blocks >= 0) {
        return mp_blocks_counted(blocks);
    }
    /* The function as it was at import (3.12+ exports no C call): it reads
     * before it allocates its result, and calling it allocates nothing
     * first. */
    PyObject *count = PyObject_CallNoArgs(st->getallocatedblocks);
    blocks = count ? PyLong_AsSsize_t(count) : -1;
    Py_XDECREF(count);
    return blocks < 0 ? blocks : mp_blocks_counted(blocks);
}

/* _allocated_blocks() -> int or None: sys.getallocatedblocks(), None where
 * it counts nothing (see mp_blocks_counted). */
static PyObject *
allocated_blocks_probe(PyObject *module, PyObject *unused)
{
    mp_state *st = mp_module_state(module);
    Py_ssize_t blocks = st ? mp_allocated_blocks_now(st) : -1;
    if (blocks == -1) {
        return NULL;
    }
    return blocks == MP_BLOCKS_NOT_COUNTED ? Py_NewRef(Py_None)
                                           : PyLong_FromSsize_t(blocks);
}

/* (text, allocated_blocks): the interpreter's report and the block count
 * behind sys.getallocatedblocks(), read back to back (None where it counts
 * nothing). */
static PyObject *
read_report(mp_state *st)
{
    size_t length = 0;
    char *text = mp_capture_malloc_stats(&length);
    if (text == NULL) {
        return NULL;
    }
    Py_ssize_t blocks = mp_allocated_blocks_now(st);
    PyObject *result = blocks == MP_BLOCKS_NOT_COUNTED
        ? Py_BuildValue("(y#O)", text, (Py_ssize_t)length, Py_None)
        : blocks >= 0 ? Py_BuildValue("(y#n)", text, (Py_ssize_t)length, blocks)
        : NULL;
    free(text);
    return result;
}

/* ---- A reading: the walk (3.12+) or the report (before), built later ---- */

struct mp_pymalloc_reading {
#if MP_HAVE_POOL_LAYOUT
    int walked;                 /* the walk, else (before 3.12) the report */
    pymalloc_walk walk;
#endif
#if !MP_HAVE_OBMALLOC_STATE
    char *report;               /* malloc'ed */
    size_t report_length;
    Py_ssize_t allocated_blocks;
#endif
};

int
mp_pymalloc_read(mp_state *st, int with_arenas, mp_pymalloc_reading **out,
                 mp_refusal *r)
{
    *out = NULL;
    if (!mp_pymalloc_serves(st, r)) {
        return 0;
    }
#if !MP_HAVE_OBMALLOC_STATE
    if (with_arenas) {
        return mp_refuse(r, st->unsupported,
                         "per-arena data needs CPython 3.12+: before 3.12 "
                         "pymalloc's arena table is file-static in "
                         "obmalloc.c and not reachable from an extension "
                         "(running CPython %s)", mp_version_text(st));
    }
#endif
    mp_pymalloc_reading *p = PyMem_RawCalloc(1, sizeof(*p));
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
#if MP_HAVE_OBMALLOC_STATE
    if (walk_own(&p->walk, with_arenas) < 0) {
        PyMem_RawFree(p);
        return -1;
    }
    p->walked = 1;
#else
    p->report = mp_capture_malloc_stats(&p->report_length);
    if (p->report == NULL) {
        PyMem_RawFree(p);
        return -1;
    }
    p->allocated_blocks = mp_allocated_blocks();
#endif
    *out = p;
    return 0;
}

#if MP_HAVE_POOL_LAYOUT
int
mp_pymalloc_read_from(const mp_pymalloc_totals *totals,
                      const mp_arena *arenas, const mp_pool_source *src,
                      mp_pymalloc_reading **out, const char **problem)
{
    *out = NULL;
    mp_pymalloc_reading *p = PyMem_RawCalloc(1, sizeof(*p));
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    p->walked = 1;
    int e = walk_pymalloc(&p->walk, totals, arenas, src, 1, problem);
    if (e != 0 || *problem != NULL) {
        mp_pymalloc_release(p);
        return e;
    }
    *out = p;
    return 0;
}
#endif

Py_ssize_t
mp_pymalloc_allocated_blocks(const mp_pymalloc_reading *p)
{
#if MP_HAVE_OBMALLOC_STATE
    (void)p;
    return -1;
#else
    return p->allocated_blocks;
#endif
}

PyObject *
mp_pymalloc_build(const mp_pymalloc_reading *p)
{
#if MP_HAVE_POOL_LAYOUT
    if (p->walked) {
        return walk_tuple(&p->walk);
    }
#endif
#if MP_HAVE_OBMALLOC_STATE
    Py_UNREACHABLE();
#else
    return Py_BuildValue("(y#n)", p->report, (Py_ssize_t)p->report_length,
                         p->allocated_blocks);
#endif
}

/* 3.12+: the five counts of walk_tuple, its six byte counts, then its
 * class rows.  Before 3.12: the report's length in bytes, then the
 * report. */
size_t
mp_pymalloc_pack(const mp_pymalloc_reading *p, int64_t *words, size_t room)
{
    size_t n = 0;
#define MP_PUT(value) do { if (n < room) { words[n] = (int64_t)(value); } n++; } while (0)
#if MP_HAVE_OBMALLOC_STATE
    const pymalloc_walk *w = &p->walk;
    pymalloc_derived d;
    derive(w, &d);
    MP_PUT(w->ntimes_arena_allocated);
    MP_PUT(w->narenas_highwater);
    MP_PUT(w->narenas);
    MP_PUT(w->raw_allocated_blocks);
    MP_PUT(w->free_pools);
    for (int k = 0; k < MP_PYMALLOC_BYTE_COUNTS; k++) {
        MP_PUT(d.bytes[k]);
    }
    for (int i = 0; i < MP_MAX_SIZE_CLASSES; i++) {
        if (w->pools[i] > 0) {
            MP_PUT(i);
            MP_PUT(d.size[i]);
            MP_PUT(w->pools[i]);
            MP_PUT(w->blocks[i]);
            MP_PUT(d.free[i]);
        }
    }
#else
    size_t text_words = (p->report_length + 7) / 8;
    MP_PUT(p->report_length);
    if (n + text_words <= room) {
        memset(words + n, 0, text_words * 8);
        memcpy(words + n, p->report, p->report_length);
    }
    n += text_words;
#endif
#undef MP_PUT
    return n;
}

void
mp_pymalloc_release(mp_pymalloc_reading *p)
{
    if (p != NULL) {
#if MP_HAVE_POOL_LAYOUT
        PyMem_RawFree(p->walk.arenas);
#endif
#if !MP_HAVE_OBMALLOC_STATE
        free(p->report);
#endif
        PyMem_RawFree(p);
    }
}

/* ---- Entry points ------------------------------------------------------------ */

/* _pymalloc_state(with_arenas) -> walk_tuple (3.12+); before 3.12, the
 * report as (text, allocated_blocks). */
static PyObject *
pymalloc_state_probe(PyObject *module, PyObject *arg)
{
    mp_state *st = mp_module_state(module);
    int with_arenas = st ? PyObject_IsTrue(arg) : -1;
    mp_pymalloc_reading *p;
    mp_refusal r;
    if (with_arenas < 0 || mp_pymalloc_read(st, with_arenas, &p, &r) < 0) {
        return NULL;
    }
    if (p == NULL) {
        return mp_raise_refusal(st, &r);
    }
    PyObject *result = mp_pymalloc_build(p);
    mp_pymalloc_release(p);
    return result;
}

/* The walk (3.12+; None before) and the report, both read before either
 * is built. */
PyObject *
mp_pymalloc_with_report(PyObject *module, PyObject *unused)
{
    mp_state *st = pymalloc_state(module);
    if (st == NULL) {
        return NULL;
    }
#if MP_HAVE_OBMALLOC_STATE
    pymalloc_walk w;
    if (walk_own(&w, 1) < 0) {
        return NULL;
    }
    PyObject *report = read_report(st);
    PyObject *state = report ? walk_tuple(&w) : NULL;
    PyMem_RawFree(w.arenas);
#else
    PyObject *report = read_report(st);
    PyObject *state = report ? Py_NewRef(Py_None) : NULL;
#endif
    PyObject *result = state ? PyTuple_Pack(2, state, report) : NULL;
    Py_XDECREF(state);
    Py_XDECREF(report);
    return result;
}

/* _block_info(obj) -> (preheader, debug_padding, arena, arena_index, pool,
 * size_class): where obj's memory block sits (3.12+); all but preheader are
 * None when the block is not in one of pymalloc's pools. */
static PyObject *
block_info(PyObject *module, PyObject *obj)
{
    mp_state *st = pymalloc_state(module);
    if (st == NULL) {
        return NULL;
    }
#if MP_HAVE_OBMALLOC_STATE
    /* The debug layer's padding is read from the block itself: under hooks
     * the allocator's name no longer says whether the layer is there. */
    Py_ssize_t preheader = mp_preheader_size(Py_TYPE(obj));
    mp_block_location where;
    if (mp_pymalloc_block_of(obj, &where) != 1) {
        return Py_BuildValue("(nOOOOO)", preheader, Py_None,
                             Py_None, Py_None, Py_None, Py_None);
    }
    return Py_BuildValue("(nnKIKI)", preheader, where.debug_padding,
                         (unsigned long long)where.arena, where.arena_index,
                         (unsigned long long)where.pool, where.size_class);
#else
    return state_unreachable(st, "block_info()");
#endif
}

static PyMethodDef pymalloc_methods[] = {
    {"_pymalloc_state", pymalloc_state_probe, METH_O,
     "_pymalloc_state(with_arenas, /)\n--\n\n"
     "pymalloc's state read in one walk (3.12+), or before 3.12 its "
     "report and sys.getallocatedblocks(), as plain data."},
    {"_allocated_blocks", allocated_blocks_probe, METH_NOARGS,
     "_allocated_blocks()\n--\n\nsys.getallocatedblocks(), or None where "
     "it counts nothing (0 under malloc)."},
    {"_block_info", block_info, METH_O,
     "_block_info(obj, /)\n--\n\nWhere obj's block sits in pymalloc (3.12+)."},
    {NULL, NULL, 0, NULL}
};

/* sys.getallocatedblocks as the sys module defines it: a function object of
 * our own made from sys's method table, so that a program that replaced
 * sys.getallocatedblocks (before importing memprobe, too) never has its
 * code run by a probe.  New reference, or NULL with an error set. */
static PyObject *
sys_getallocatedblocks(void)
{
    PyObject *sys = PyImport_ImportModule("sys");
    if (sys == NULL) {
        return NULL;
    }
    PyModuleDef *def = PyModule_GetDef(sys);
    PyErr_Clear();      /* no def: not found below */
    PyObject *function = NULL;
    for (PyMethodDef *m = def ? def->m_methods : NULL;
         m != NULL && m->ml_name != NULL; m++) {
        if (strcmp(m->ml_name, "getallocatedblocks") == 0) {
            function = PyCFunction_NewEx(m, sys, NULL);
            break;
        }
    }
    if (function == NULL && !PyErr_Occurred()) {
        PyErr_SetString(PyExc_RuntimeError,
                        "sys defines no getallocatedblocks");
    }
    Py_DECREF(sys);
    return function;
}

int
mp_init_pymalloc(PyObject *module, mp_state *st)
{
    st->getallocatedblocks = sys_getallocatedblocks();
    if (st->getallocatedblocks == NULL) {
        return -1;
    }
    return PyModule_AddFunctions(module, pymalloc_methods);
}
