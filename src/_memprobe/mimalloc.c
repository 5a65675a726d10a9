/* mimalloc.c: mimalloc's heaps as pages and blocks per heap and block size.
 *
 * Free-threaded builds give every thread four mimalloc heaps
 * (_PyThreadStateImpl.mimalloc.heaps: raw memory, objects, GC objects, GC
 * objects with a pre-header), and threads that exit leave their segments in
 * the interpreter's abandoned pool.  Default builds started with
 * PYTHONMALLOC=mimalloc (3.13+) allocate from each thread's default heap.
 *
 * A walk reads each heap's page queues (compat.h hides the two vendored
 * mimalloc generations) with every other thread stopped, counts into a
 * fixed C table, and only then builds Python objects.  It never collects a
 * page's deferred frees (mimalloc's own visitors do, which changes the
 * page): blocks other threads freed but the owner has not taken back are
 * counted separately as pending.
 */
#include "parts.h"
#include "mimalloc.h"

#if MP_HAVE_MIMALLOC

/* Heap kinds by index: CPython's _Py_MIMALLOC_HEAP_* (mem, object, gc,
 * gc_pre) on free-threaded builds, and a default build's "default" heap;
 * memprobe/_mimalloc.py names them in this order. */
#define MP_MI_HEAP_KINDS 5
#define MP_MI_DEFAULT_HEAP 4
#define MP_MI_ROWS 1024           /* distinct (heap, block size) pairs */

typedef struct {
    int heap;
    size_t block_size;
    Py_ssize_t pages, used, pending, capacity, reserved, abandoned_pages;
} heap_row;

typedef struct {
    heap_row rows[MP_MI_ROWS];
    size_t nrows;
    int threads;
} heap_table;

/* Counts one page into the table, with `pending` blocks other threads
 * freed into it: 0, or 1 when it does not add up. */
static int
count_into(heap_table *t, const mi_page_t *page, int heap, int abandoned,
           Py_ssize_t pending)
{
    if (heap < 0 || heap >= MP_MI_HEAP_KINDS) {
        return 1;
    }
    size_t block_size = mp_mi_block_size(page);
    if (pending < 0 || pending > (Py_ssize_t)page->used
        || page->used > page->capacity || page->capacity > page->reserved) {
        return 1;
    }
    heap_row *row = NULL;
    for (size_t i = 0; i < t->nrows; i++) {
        if (t->rows[i].heap == heap && t->rows[i].block_size == block_size) {
            row = &t->rows[i];
            break;
        }
    }
    if (row == NULL) {
        if (t->nrows == MP_MI_ROWS) {
            return 1;
        }
        row = &t->rows[t->nrows++];
        row->heap = heap;
        row->block_size = block_size;
    }
    row->pages++;
    row->used += page->used;
    row->pending += pending;
    row->capacity += page->capacity;
    row->reserved += page->reserved;
    row->abandoned_pages += abandoned;
    return 0;
}

/* One page of this process (mp_mi_page_visitor). */
static int
count_page(const mi_page_t *page, int heap, int abandoned, void *arg)
{
    return count_into(arg, page, heap, abandoned, mp_mi_pending_frees(page));
}

typedef struct {
    mp_mi_page_visitor visit;
    void *arg;
    size_t pages;
    int stopped;                  /* the visitor's nonzero, or -1: broken */
} page_walk;

static void
visit_page(page_walk *w, const mi_page_t *page, int heap, int abandoned)
{
    if (++w->pages > MP_MI_PAGE_CAP) {
        w->stopped = -1;          /* a list loops */
        return;
    }
    w->stopped = w->visit(page, heap, abandoned, w->arg);
}

/* Every page of one heap: each size's queue, and the queue of full pages. */
static void
visit_heap(page_walk *w, mi_heap_t *heap, int kind)
{
    for (size_t q = 0; q <= MI_BIN_FULL && !w->stopped; q++) {
        for (mi_page_t *page = heap->pages[q].first;
             page != NULL && !w->stopped; page = page->next) {
            visit_page(w, page, kind, 0);
        }
    }
}

int
mp_mi_segment_pages(mi_segment_t *segment, int abandoned,
                    mp_mi_page_visitor visit, void *arg)
{
    if (segment->slice_entries > MI_SLICES_PER_SEGMENT + 1) {
        return -1;
    }
    mi_slice_t *slice = &segment->slices[0];
    mi_slice_t *end = &segment->slices[segment->slice_entries];
    /* The first span holds the segment's own bookkeeping. */
    slice += slice->slice_count;
    while (slice < end) {
        if (slice->slice_count == 0 || slice->slice_offset != 0) {
            return -1;
        }
        if (mp_mi_block_size(slice) > 0) {
            int rc = visit(slice, MP_MI_PAGE_TAG(slice), abandoned, arg);
            if (rc) {
                return rc;
            }
        }
        slice += slice->slice_count;
    }
    return 0;
}

#if MP_MI_ABANDONED_POOL
static int
visit_abandoned_page(const mi_page_t *page, int heap, int abandoned, void *arg)
{
    visit_page(arg, page, heap, abandoned);
    return ((page_walk *)arg)->stopped;
}

/* Pages of segments whose threads exited.  Each page carries the tag of
 * the heap kind it served. */
static void
visit_abandoned(page_walk *w, PyInterpreterState *interp)
{
    size_t segments = 0;
    for (int visited = 0; visited < 2; visited++) {
        for (mi_segment_t *segment = mp_mi_abandoned_list(interp, visited);
             segment != NULL && !w->stopped;
             segment = mi_atomic_load_ptr_relaxed(mi_segment_t,
                                                  &segment->abandoned_next)) {
            if (++segments > MP_MI_PAGE_CAP) {
                w->stopped = -1;
                break;
            }
            int rc = mp_mi_segment_pages(segment, 1, visit_abandoned_page, w);
            if (rc && !w->stopped) {
                w->stopped = rc;
            }
        }
    }
}
#endif

#if !MP_FREE_THREADED
/* The calling thread's heaps on a default build: found through the page of
 * a block it allocates, since the heap pointer itself is mimalloc's
 * unexported thread-local. */
static mi_heap_t *
current_default_heap(void)
{
    void *probe = PyMem_Malloc(8);
    if (probe == NULL) {
        return NULL;
    }
    mi_heap_t *heap = mi_page_heap(mp_mi_page_of(probe));
    PyMem_Free(probe);
    return heap;
}
#endif

int
mp_mi_visit_pages(PyInterpreterState *interp, mp_mi_page_visitor visit,
                  void *arg, int *threads, int *abandoned_walked)
{
    page_walk w = {visit, arg, 0, 0};
    *threads = 0;
    *abandoned_walked = 0;
#if MP_FREE_THREADED
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp);
         ts != NULL && !w.stopped; ts = PyThreadState_Next(ts)) {
        struct _mimalloc_thread_state *m = &((_PyThreadStateImpl *)ts)->mimalloc;
        if (!_Py_atomic_load_int(&m->initialized)) {
            continue;
        }
        (*threads)++;
        for (int kind = 0; kind < _Py_MIMALLOC_HEAP_COUNT; kind++) {
            visit_heap(&w, &m->heaps[kind], kind);
        }
    }
#  if MP_MI_ABANDONED_POOL
    visit_abandoned(&w, interp);
    *abandoned_walked = 1;
#  endif
#else
    (void)interp;
    *threads = 1;
    mi_heap_t *heap = current_default_heap();
    if (heap == NULL || heap->tld == NULL) {
        return -1;
    }
    size_t heaps = 0;
    for (mi_heap_t *h = heap->tld->heaps; h != NULL && !w.stopped; h = h->next) {
        if (++heaps > 1024) {
            return -1;
        }
        visit_heap(&w, h, MP_MI_DEFAULT_HEAP);
    }
#endif
    return w.stopped;
}

static PyObject *
rows_list(const heap_table *t)
{
    PyObject *rows = PyList_New((Py_ssize_t)t->nrows);
    for (size_t i = 0; rows != NULL && i < t->nrows; i++) {
        const heap_row *r = &t->rows[i];
        PyObject *row = Py_BuildValue(
            "(innnnnnn)", r->heap, (Py_ssize_t)r->block_size,
            r->pages, r->used, r->pending, r->capacity, r->reserved,
            r->abandoned_pages);
        if (row == NULL) {
            Py_CLEAR(rows);
            break;
        }
        PyList_SET_ITEM(rows, (Py_ssize_t)i, row);
    }
    return rows;
}
#endif

/* ---- A reading, built later ----------------------------------------------- */

struct mp_mimalloc_reading {
#if MP_HAVE_MIMALLOC
    heap_table table;
    int abandoned_walked;
#else
    int unused;
#endif
};

#if MP_HAVE_MIMALLOC
mp_mimalloc_reading *
mp_mimalloc_new(void)
{
    return PyMem_RawCalloc(1, sizeof(mp_mimalloc_reading));
}

int
mp_mimalloc_count(mp_mimalloc_reading *m, const mi_page_t *page, int heap,
                  int abandoned, Py_ssize_t pending)
{
    return count_into(&m->table, page, heap, abandoned, pending);
}

void
mp_mimalloc_walked(mp_mimalloc_reading *m, int threads, int abandoned_walked)
{
    m->table.threads = threads;
    m->abandoned_walked = abandoned_walked;
}
#endif

int
mp_mimalloc_read(mp_state *st, mp_mimalloc_reading **out, mp_refusal *r)
{
    *out = NULL;
    mp_allocator a;
    mp_current_allocator(&a);
    if (a.name == NULL) {
        return mp_refuse(r, st->no_mimalloc, "the allocator is hooked (e.g. "
                         "by tracemalloc), not mimalloc");
    }
    if (a.family != MP_ALLOC_MIMALLOC) {
        return mp_refuse(r, st->no_mimalloc,
                         "the allocator is %s, not mimalloc; free-threaded "
                         "builds and PYTHONMALLOC=mimalloc (3.13+) use it",
                         a.name);
    }
#if MP_HAVE_MIMALLOC
    if (!mp_check_part(st, MP_PART_MIMALLOC, r)) {
        return 0;
    }
    if (!MP_CAN_STOP_THE_WORLD) {
        return mp_refuse(r, st->unsupported,
                         "CPython %s does not export the call that pauses "
                         "other threads, so their heaps cannot be read safely",
                         mp_version_text(st));
    }
    mp_mimalloc_reading *m = mp_mimalloc_new();
    if (m == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    PyInterpreterState *interp = PyInterpreterState_Get();
    mp_stop_the_world(interp);
    int broken = mp_mi_visit_pages(interp, count_page, &m->table,
                                   &m->table.threads, &m->abandoned_walked);
    mp_start_the_world(interp);
    if (broken) {
        PyMem_RawFree(m);
        return mp_refuse(r, st->error,
                         "a mimalloc page list did not add up (a loop, a page "
                         "over its capacity, or a free list leaving its "
                         "page); refusing to report it");
    }
    *out = m;
    return 0;
#else
    return mp_refuse(r, st->unsupported,
                     "CPython %s has no mimalloc (it arrived in 3.13)",
                     mp_version_text(st));
#endif
}

/* (threads, abandoned_pool, small_max, medium_max, large_max, rows):
 * every page of the heaps walked, one row per heap kind and block size:
 * (heap index, block_size, pages, used, pending, capacity, reserved,
 * abandoned_pages); the *_max are mimalloc's block size limits of small,
 * medium and large pages. */
PyObject *
mp_mimalloc_build(const mp_mimalloc_reading *m)
{
#if MP_HAVE_MIMALLOC
    PyObject *rows = rows_list(&m->table);
    PyObject *result = rows == NULL ? NULL : Py_BuildValue(
        "(iOnnnO)", m->table.threads, m->abandoned_walked ? Py_True : Py_False,
        (Py_ssize_t)MI_SMALL_OBJ_SIZE_MAX, (Py_ssize_t)MI_MEDIUM_OBJ_SIZE_MAX,
        (Py_ssize_t)MI_LARGE_OBJ_SIZE_MAX, rows);
    Py_XDECREF(rows);
    return result;
#else
    (void)m;
    PyErr_SetString(PyExc_SystemError, "no mimalloc reading");
    return NULL;
#endif
}

/* The eight numbers of each row of mp_mimalloc_build, row after row. */
size_t
mp_mimalloc_pack(const mp_mimalloc_reading *m, int64_t *words, size_t room)
{
    size_t n = 0;
#if MP_HAVE_MIMALLOC
    for (size_t i = 0; i < m->table.nrows; i++, n += 8) {
        const heap_row *r = &m->table.rows[i];
        if (n + 8 <= room) {
            words[n] = r->heap;
            words[n + 1] = (int64_t)r->block_size;
            words[n + 2] = r->pages;
            words[n + 3] = r->used;
            words[n + 4] = r->pending;
            words[n + 5] = r->capacity;
            words[n + 6] = r->reserved;
            words[n + 7] = r->abandoned_pages;
        }
    }
#else
    (void)m;
    (void)words;
    (void)room;
#endif
    return n;
}

void
mp_mimalloc_release(mp_mimalloc_reading *m)
{
    PyMem_RawFree(m);
}

/* _mimalloc() -> mp_mimalloc_build's tuple. */
static PyObject *
mimalloc_probe(PyObject *module, PyObject *unused)
{
    mp_state *st = mp_module_state(module);
    mp_mimalloc_reading *m;
    mp_refusal r;
    if (st == NULL || mp_mimalloc_read(st, &m, &r) < 0) {
        return NULL;
    }
    if (m == NULL) {
        return mp_raise_refusal(st, &r);
    }
    PyObject *result = mp_mimalloc_build(m);
    mp_mimalloc_release(m);
    return result;
}

static PyMethodDef mimalloc_methods[] = {
    {"_mimalloc", mimalloc_probe, METH_NOARGS,
     "_mimalloc()\n--\n\nmimalloc's heaps walked, as plain data."},
    {NULL, NULL, 0, NULL}
};

int
mp_init_mimalloc(PyObject *module, mp_state *st)
{
    (void)st;
    return PyModule_AddFunctions(module, mimalloc_methods);
}
