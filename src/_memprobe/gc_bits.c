/* gc_bits.c: where objects are, on free-threaded builds: ob_gc_bits.
 *
 * Free-threaded CPython (3.13t+) keeps no generation lists: each object's
 * ob_gc_bits byte says whether it is tracked, frozen (gc.freeze),
 * unreachable in the collection running now, or finalized.  The byte is
 * read with a relaxed atomic load.  Objects are visited with the unstable
 * API PyUnstable_GC_VisitObjects, which stops the world while it runs.
 * GIL builds compile gc_lists.c instead.
 */
#include "parts.h"

#if MP_FREE_THREADED

static uint8_t
gc_bits(PyObject *op)
{
    return _Py_atomic_load_uint8_relaxed(&op->ob_gc_bits);
}

int
mp_gc_list_code(mp_state *st, int list)
{
    (void)st;
    (void)list;
    return MP_GEN_TRACKED;
}

int
mp_gc_finalized(PyObject *op)
{
    return PyObject_IS_GC(op) && (gc_bits(op) & _PyGC_BITS_FINALIZED) != 0;
}

int
mp_gc_bits(PyObject *op)
{
    return gc_bits(op);
}

unsigned
mp_gc_empty_lists(void)
{
    return 0;
}

int
mp_gc_list_lengths(mp_state *st, unsigned lists,
                   Py_ssize_t lengths[MP_NUM_LISTS])
{
    (void)st;
    (void)lists;
    for (int list = 0; list < MP_NUM_LISTS; list++) {
        lengths[list] = -1;
    }
    return 0;
}

int
mp_gc_locate(mp_state *st, PyObject *const *objs, Py_ssize_t n, int *codes)
{
    (void)st;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint8_t bits = gc_bits(objs[i]);
        codes[i] = !PyObject_IS_GC(objs[i]) ? MP_GEN_NOT_GC
                   : !(bits & _PyGC_BITS_TRACKED) ? MP_GEN_UNTRACKED
                   : (bits & _PyGC_BITS_UNREACHABLE) ? MP_GEN_IN_COLLECTION
                   : (bits & _PyGC_BITS_FROZEN) ? MP_GEN_PERMANENT
                   : MP_GEN_TRACKED;
    }
    return 0;
}

typedef struct {
    mp_gc_visitor visit;
    void *arg;
} visit_adapter;

/* PyUnstable_GC_VisitObjects' callback: nonzero continues. */
static int
visit_one(PyObject *op, void *arg)
{
    visit_adapter *v = arg;
    return !v->visit(op, 0, v->arg);
}

int
mp_gc_visit(mp_state *st, unsigned lists, mp_gc_visitor visit, void *arg)
{
    (void)st;
    if (lists & MP_LIST(0)) {
        visit_adapter v = {visit, arg};
        PyUnstable_GC_VisitObjects(visit_one, &v);
    }
    return 0;
}

#endif /* MP_FREE_THREADED */
