/* remote_heaps.c: a free-threaded process's mimalloc heaps and the objects
 * on them, read from outside (attach; 3.13t+).
 *
 * Reads what CPython's own gc_visit_heaps() walks, in copies: each thread
 * state of the interpreter (PyThreadState.next and .interp, and
 * _PyThreadStateImpl.mimalloc: .initialized and .heaps[_Py_MIMALLOC_HEAP_*],
 * each mi_heap_t's page queues pages[0..MI_BIN_FULL]); each mi_page_t
 * along mi_page_t.next; on mimalloc 2.1 (3.13, 3.14.0-3.14.7) the
 * interpreter's abandoned pool (PyInterpreterState.mimalloc.abandoned_pool:
 * its abandoned and abandoned_visited segment lists, along
 * mi_segment_t.abandoned_next) and each of those segments' mi_segment_t
 * with its slices, whose pages carry their heap's tag.  For every page:
 * its thread-freed blocks (xthread_free), for mimalloc.c's table.  For the
 * pages of the two GC heaps, while the target is stopped: a copy of their
 * carved blocks, the blocks on the free, local_free and xthread_free lists
 * marked free (links decoded with the page's keys), and in each other
 * block the PyObject header (ob_gc_bits, ob_type) at offset 0 (GC) or
 * after the two pre-header words (GC_PRE), both after the debug layer's
 * two words where a block begins with them: an object is counted when
 * tracked, as gc.get_objects() lists it (op_from_block) unless frozen,
 * and gc.get_freeze_count() if frozen.
 *
 * Beside them, the native id of each thread state found attached
 * (PyThreadState.state, .native_thread_id): a thread stopped in the middle
 * of changing its heaps can hold a page or a whole segment in no list
 * (mimalloc moving a page between queues, or taking an abandoned segment
 * back), which no check of the copies can see; attach asks the kernel
 * where each of those threads stopped.
 *
 * mimalloc 2.5 (later 3.14 releases, 3.15) keeps abandoned segments in its
 * own arenas, out of reach: there the objects are counted only while
 * every thread state the interpreter made is alive (no thread has left
 * its blocks behind).
 */
#include "remote.h"

#if MP_REMOTE && MP_FREE_THREADED && MP_HAVE_MIMALLOC
#include "mimalloc.h"

/* The largest page copied whole (a medium page is 512 KiB); the blocks of
 * larger pages, few and large, are read one header at a time. */
#define MP_SPAN_MAX ((size_t)1 << 20)
/* The most thread states followed, and segments in the abandoned pool
 * (16,384 segments of 32 MiB: 512 GiB): a longer list is taken for a loop
 * made by a target changing it. */
#define MP_HEAP_THREADS_MAX 100000
#define MP_SEGMENTS_MAX 16384
/* Threads running Python named at the most (more: a 0 after them). */
#define MP_ATTACHED_MAX 1024

typedef struct {
    mp_page_cache *cache;
    pid_t pid;
    mp_mimalloc_reading *rows;
    int objects;                /* count the objects of the GC heaps */
    mp_census *types;
    Py_ssize_t tracked, frozen;
    char *span;                 /* the blocks of the page being read */
    uintptr_t span_at;
    size_t span_len;
    unsigned char *is_free;     /* per block of that page */
    size_t pages;
    Py_ssize_t steps;           /* pages and objects, for signal checks */
    PyThreadState *saved;       /* this thread, while the GIL is released */
    mp_walk_problem problem;
    int e;                      /* an errno other than EFAULT, or ENOMEM */
    int interrupted;            /* a signal handler raised */
    unsigned long *attached;    /* native ids of threads running Python */
    size_t nattached;
    int too_many_attached;      /* more than MP_ATTACHED_MAX of them */
} heaps_walk;

/* Stops the walk: the target changed what was read under the reading. */
static int
changed(heaps_walk *w, const char *why)
{
    w->problem = (mp_walk_problem){why, 1};
    return -1;
}

/* An errno from a read: EFAULT is the target changing its heaps (a
 * pointer led outside its memory); any other stops the reading. */
static int
failed(heaps_walk *w, int e, const char *why)
{
    if (e == EFAULT) {
        return changed(w, why);
    }
    w->e = e;
    return -1;
}

/* n bytes at address: from the copy of the page's blocks when they lie
 * in it, else from the target.  0, or an errno. */
static int
read_blocks(heaps_walk *w, uintptr_t address, void *into, size_t n)
{
    if (address >= w->span_at && address - w->span_at + n <= w->span_len) {
        memcpy(into, w->span + (address - w->span_at), n);
        return 0;
    }
    return mp_read_remote(w->pid, address, into, n);
}

/* mp_mi_link_reader of the page being read. */
static int
read_link(void *ctx, uintptr_t block, mi_block_t *into)
{
    return read_blocks(ctx, block, into, sizeof(*into));
}

/* Every MP_STEPS_PER_SLICE steps, this process's signal handlers run. */
static int
step(heaps_walk *w, Py_ssize_t n)
{
    Py_ssize_t before = w->steps;
    w->steps += n;
    if (before / MP_STEPS_PER_SLICE == w->steps / MP_STEPS_PER_SLICE) {
        return 0;
    }
    PyEval_RestoreThread(w->saved);
    int rc = PyErr_CheckSignals();
    w->saved = PyEval_SaveThread();
    if (rc < 0) {
        w->interrupted = 1;
        return -1;
    }
    return 0;
}

/* The first bytes of a block: the debug layer's two words (when the
 * target runs it), the pre-header's two, then an object's header. */
typedef union {
    unsigned char bytes[2 * sizeof(size_t) + 2 * sizeof(PyObject *)
                        + sizeof(PyObject)];
    size_t words[1];
} block_head;

/* The object in a used block of a GC heap's page (its head, n bytes of
 * it, read), or NULL when the block is too small to hold one. */
static const PyObject *
object_of(const block_head *head, size_t n, int heap, PyObject *into)
{
    /* The debug layer's front words, read from each block, as blocks.c
     * does. */
    size_t offset = 0;
    if (mp_debug_api_id(head->bytes, n) == 'o') {
        offset = (size_t)MP_DEBUG_FRONT_BYTES;
    }
    if (heap == _Py_MIMALLOC_HEAP_GC_PRE) {
        offset += 2 * sizeof(PyObject *);
    }
    if (offset + sizeof(PyObject) > n) {
        return NULL;
    }
    memcpy(into, head->bytes + offset, sizeof(*into));
    return into;
}

/* The tracked objects in the used blocks of a GC heap's page: counted
 * as frozen (gc.freeze()) or not, and by type. */
static int
count_objects(heaps_walk *w, int heap, uintptr_t first, size_t size,
              size_t capacity)
{
    size_t n = size < sizeof(block_head) ? size : sizeof(block_head);
    for (size_t i = 0; i < capacity; i++) {
        if (w->is_free[i]) {
            continue;
        }
        uintptr_t at = first + i * size;
        block_head head;
        int e = read_blocks(w, at, &head, n);
        if (e != 0) {
            return failed(w, e, "an object led outside the target's memory "
                          "(the target changed it while it was read)");
        }
        PyObject ob;
        if (object_of(&head, n, heap, &ob) == NULL) {
            return changed(w, "a GC heap's page holds blocks too small for "
                           "an object (the target changed it while it was "
                           "read)");
        }
        uint8_t bits = ob.ob_gc_bits;
        if (!(bits & _PyGC_BITS_TRACKED)) {
            continue;
        }
        if (ob.ob_type == NULL) {
            return changed(w, "a tracked object has no type (the target "
                           "changed it while it was read)");
        }
        if (bits & _PyGC_BITS_FROZEN) {
            w->frozen++;
        }
        else {
            w->tracked++;
        }
        if (w->types != NULL && mp_census_count(w->types, ob.ob_type, 0, 1)) {
            w->e = ENOMEM;
            return -1;
        }
    }
    return step(w, (Py_ssize_t)capacity);
}

/* One page, a copy of the header at `at` in the target: its pending
 * frees, and with objects on a GC heap's page, its objects. */
static int
visit_page(heaps_walk *w, const mi_page_t *page, uintptr_t at, int heap,
           int abandoned)
{
    if (++w->pages > MP_MI_PAGE_CAP) {
        return changed(w, "a mimalloc page list loops (the target changed "
                       "it while it was read)");
    }
    size_t size = mp_mi_block_size(page), capacity = page->capacity;
    uintptr_t first = mp_mi_page_start(page, at), lo, hi;
    mp_mi_page_bounds(page, at, &lo, &hi);
    if (size == 0 || capacity > MP_MAX_BLOCKS_PER_PAGE || first < lo
        || capacity > (hi - first) / size || page->used > capacity) {
        return changed(w, "a mimalloc page's counts do not fit its memory "
                       "(the target changed it while it was read)");
    }
    int gc = heap == _Py_MIMALLOC_HEAP_GC || heap == _Py_MIMALLOC_HEAP_GC_PRE;
    int blocks = w->objects && gc && page->used > 0;
    uintptr_t tf = mi_atomic_load_relaxed(&((mi_page_t *)page)->xthread_free);
    /* The blocks are copied for their objects, and for the links of
     * blocks other threads freed: one read for the page, not one a link. */
    w->span_at = first;
    w->span_len = 0;
    if ((blocks || (tf & ~(uintptr_t)3) != 0) && capacity * size <= MP_SPAN_MAX) {
        int e = mp_read_remote(w->pid, first, w->span, capacity * size);
        if (e != 0) {
            return failed(w, e, "a mimalloc page's blocks are not in the "
                          "target's memory (it changed while it was read)");
        }
        w->span_len = capacity * size;
    }
    memset(w->is_free, 0, capacity);
    int e = 0;
    Py_ssize_t nthread = mp_mi_mark_free(page, at, tf & ~(uintptr_t)3, first,
                                         size, capacity, w->is_free,
                                         read_link, w, &e);
    Py_ssize_t nfree = 0, nlocal = 0;
    if (blocks && nthread >= 0) {
        nfree = mp_mi_mark_free(page, at, (uintptr_t)page->free, first, size,
                                capacity, w->is_free, read_link, w, &e);
    }
    if (blocks && nthread >= 0 && nfree >= 0) {
        nlocal = mp_mi_mark_free(page, at, (uintptr_t)page->local_free, first,
                                 size, capacity, w->is_free, read_link, w, &e);
    }
    if (e != 0 && e != EFAULT) {
        w->e = e;
        return -1;
    }
    /* used counts the blocks other threads freed but the page has not
     * taken back (xthread_free): they are free all the same. */
    if (nthread < 0 || nfree < 0 || nlocal < 0
        || (blocks && (size_t)(nfree + nlocal) + page->used != capacity)) {
        return changed(w, "a mimalloc page's free lists do not add up (the "
                       "target changed them while they were read)");
    }
    if (w->rows != NULL
        && mp_mimalloc_count(w->rows, page, heap, abandoned, nthread)) {
        return changed(w, "a mimalloc page's counts do not add up (the "
                       "target changed them while they were read)");
    }
    return blocks ? count_objects(w, heap, first, size, capacity) : step(w, 1);
}

/* Every page of one heap (a copy): each size's queue, and the queue of
 * full pages.  Each page's prev must name the page before it, and the
 * queue's last the final one: a queue the target changed while it was
 * read fails that check, and since each header is read once per reading
 * (through the cache), a walk that passes it cannot go round a loop (a
 * page met twice would have two pages before it). */
static int
visit_heap(heaps_walk *w, const mi_heap_t *heap, int kind)
{
    for (size_t q = 0; q <= MI_BIN_FULL; q++) {
        uintptr_t before = 0, at = (uintptr_t)heap->pages[q].first;
        while (at != 0) {
            mi_page_t page;
            int e = mp_read_cached(w->cache, at, &page, sizeof(page));
            if (e != 0) {
                return failed(w, e, "a mimalloc page queue led outside the "
                              "target's memory (the target changed it while "
                              "it was read)");
            }
            if ((uintptr_t)page.prev != before) {
                return changed(w, "a mimalloc page queue's links disagree "
                               "(the target changed it while it was read)");
            }
            if (visit_page(w, &page, at, kind, 0) < 0) {
                return -1;
            }
            before = at;
            at = (uintptr_t)page.next;
        }
        if (before != (uintptr_t)heap->pages[q].last) {
            return changed(w, "a mimalloc page queue does not end where its "
                           "head says (the target changed it while it was "
                           "read)");
        }
    }
    return 0;
}

/* Every thread's heaps, counting the thread states met (*alive) and those
 * whose heaps were read (*read: a thread binds its heaps when it first
 * runs): 0, or -1 (w says why). */
static int
visit_threads(heaps_walk *w, const PyInterpreterState *copy, uintptr_t address,
              uint64_t *alive, int *read)
{
    struct _mimalloc_thread_state *m = PyMem_RawMalloc(sizeof(*m));
    if (m == NULL) {
        w->e = ENOMEM;
        return -1;
    }
    int rc = 0;
    *alive = 0;
    *read = 0;
    uintptr_t t = (uintptr_t)copy->threads.head;
    while (t != 0 && rc == 0) {
        if (*alive >= MP_HEAP_THREADS_MAX) {
            rc = changed(w, "the interpreter's thread states loop (the "
                         "target changed them while they were read)");
            break;
        }
        (*alive)++;
        PyThreadState ts;
        struct iovec local[2] = {{&ts, sizeof(ts)}, {m, sizeof(*m)}};
        struct iovec remote[2] = {
            {(void *)t, sizeof(ts)},
            {(void *)(t + offsetof(_PyThreadStateImpl, mimalloc)), sizeof(*m)},
        };
        int e = mp_read_remote_v(w->pid, local, remote, 2);
        if (e == 0 && (uintptr_t)ts.interp != address) {
            e = EFAULT;             /* not a thread of this interpreter */
        }
        if (e != 0) {
            rc = failed(w, e, "a thread state led outside the target's "
                        "memory (the target changed it while it was read)");
            break;
        }
        if (ts.state == _Py_THREAD_ATTACHED
            && w->nattached < MP_ATTACHED_MAX) {
            w->attached[w->nattached++] = ts.native_thread_id;
        }
        else if (ts.state == _Py_THREAD_ATTACHED) {
            w->too_many_attached = 1;
        }
        if (m->initialized) {
            (*read)++;
            for (int kind = 0; kind < _Py_MIMALLOC_HEAP_COUNT && rc == 0; kind++) {
                rc = visit_heap(w, &m->heaps[kind], kind);
            }
        }
        t = (uintptr_t)ts.next;
    }
    PyMem_RawFree(m);
    return rc;
}

#if MP_MI_ABANDONED_POOL
typedef struct {
    heaps_walk *w;
    const mi_segment_t *copy;
    uintptr_t at;
} segment_walk;

/* A page of an abandoned segment (mp_mi_page_visitor): its header is in
 * the copy of the segment, which sits at s->at in the target. */
static int
visit_abandoned_page(const mi_page_t *page, int heap, int abandoned, void *arg)
{
    segment_walk *s = arg;
    uintptr_t at = s->at + (uintptr_t)((const char *)page - (const char *)s->copy);
    return visit_page(s->w, page, at, heap, abandoned) < 0;
}

/* The pages of segments whose threads exited. */
static int
visit_abandoned(heaps_walk *w, const PyInterpreterState *copy)
{
    mi_segment_t *segment = PyMem_RawMalloc(sizeof(*segment));
    if (segment == NULL) {
        w->e = ENOMEM;
        return -1;
    }
    size_t segments = 0;
    int rc = 0;
    for (int visited = 0; visited < 2 && rc == 0; visited++) {
        uintptr_t at = (uintptr_t)mp_mi_abandoned_list(
            (PyInterpreterState *)copy, visited);
        while (at != 0 && rc == 0) {
            if (++segments > MP_SEGMENTS_MAX) {
                rc = changed(w, "the abandoned pool loops (the target changed "
                             "it while it was read)");
                break;
            }
            int e = mp_read_remote(w->pid, at, segment, sizeof(*segment));
            if (e != 0) {
                rc = failed(w, e, "the abandoned pool led outside the "
                            "target's memory (the target changed it while it "
                            "was read)");
                break;
            }
            segment_walk s = {w, segment, at};
            int broken = mp_mi_segment_pages(segment, 1, visit_abandoned_page, &s);
            if (broken && w->problem.why == NULL && w->e == 0 && !w->interrupted) {
                rc = changed(w, "an abandoned segment's slices do not add up "
                             "(the target changed it while it was read)");
            }
            else if (broken) {
                rc = -1;
            }
            at = (uintptr_t)mi_atomic_load_ptr_relaxed(
                mi_segment_t, &segment->abandoned_next);
        }
    }
    PyMem_RawFree(segment);
    return rc;
}
#endif

int
mp_remote_heaps(mp_page_cache *c, const PyInterpreterState *copy,
                uintptr_t address, mp_mimalloc_reading *rows, int objects,
                mp_census *types, Py_ssize_t *tracked, Py_ssize_t *frozen,
                const char **uncounted, mp_walk_problem *problem,
                PyObject **attached)
{
    heaps_walk w = {c, c->pid, rows, objects, types, 0};
    w.span = PyMem_RawMalloc(MP_SPAN_MAX);
    w.is_free = PyMem_RawMalloc(MP_MAX_BLOCKS_PER_PAGE);
    w.attached = PyMem_RawMalloc(MP_ATTACHED_MAX * sizeof(unsigned long));
    if (w.span == NULL || w.is_free == NULL || w.attached == NULL) {
        PyMem_RawFree(w.span);
        PyMem_RawFree(w.is_free);
        PyMem_RawFree(w.attached);
        PyErr_NoMemory();
        return -1;
    }
    uint64_t alive = 0;
    int read = 0, abandoned_walked = 0;
    w.saved = PyEval_SaveThread();
    int rc = visit_threads(&w, copy, address, &alive, &read);
#if MP_MI_ABANDONED_POOL
    if (rc == 0) {
        rc = visit_abandoned(&w, copy);
        abandoned_walked = 1;
    }
#endif
    PyEval_RestoreThread(w.saved);
    PyMem_RawFree(w.span);
    PyMem_RawFree(w.is_free);
    /* Everything is read: the thread ids as a tuple of ints, a 0 last
     * when there were more than MP_ATTACHED_MAX. */
    size_t named = w.nattached + (size_t)w.too_many_attached;
    *attached = w.interrupted ? NULL : PyTuple_New((Py_ssize_t)named);
    for (size_t i = 0; *attached != NULL && i < named; i++) {
        PyObject *tid = PyLong_FromUnsignedLong(i < w.nattached ? w.attached[i] : 0);
        if (tid == NULL) {
            Py_CLEAR(*attached);
            break;
        }
        PyTuple_SET_ITEM(*attached, (Py_ssize_t)i, tid);
    }
    PyMem_RawFree(w.attached);
    if (w.interrupted || *attached == NULL) {
        return -1;
    }
    if (w.e != 0) {
        Py_CLEAR(*attached);
        if (w.e == ENOMEM) {
            PyErr_NoMemory();
        }
        else {
            mp_raise_errno(w.e);
        }
        return -1;
    }
    *problem = w.problem;
    *uncounted = NULL;
    if (rc == 0 && objects && !abandoned_walked
        && mp_thread_states_made((PyInterpreterState *)copy) != alive) {
        *uncounted = "threads that ended left their objects in abandoned "
                     "segments, which this build's mimalloc (2.5) keeps in "
                     "its own arenas, out of attach's reach";
    }
    if (rows != NULL) {
        mp_mimalloc_walked(rows, read, abandoned_walked);
    }
    *tracked = w.tracked;
    *frozen = w.frozen;
    return 0;
}
#endif
