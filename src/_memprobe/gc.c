/* gc.c: where objects are in the cyclic collector, and the collector's state.
 *
 * Reads PyInterpreterState.gc of the calling interpreter (compat.h): the
 * generation lists generations[0..2] (young/old[0]/old[1] on the
 * incremental regime of 3.14.0-3.14.4), permanent_generation, collecting,
 * counts, thresholds; and each object's PyGC_Head (_gc_next, the finalized
 * bit of _gc_prev).  Free-threaded builds have no lists: see the
 * ob_gc_bits branch.
 *
 * Walks follow _gc_next only (during a collection _gc_prev holds gc_refs),
 * stop when they return to where they started, and give up after more steps
 * than objects could fit in memory.  Nothing is allocated as a Python object
 * and no Python code runs while walking: answers are gathered into C memory
 * (PyMem_Raw*), then turned into results.
 */
#include "parts.h"

/* Codes shared with memprobe.Generation. */
enum {
    MP_GEN_UNKNOWN = -100,
    MP_GEN_NOT_GC = -3,
    MP_GEN_UNTRACKED = -2,
    MP_GEN_IN_COLLECTION = -1,
    MP_GEN_0 = 0,
    MP_GEN_PERMANENT = 3,
    MP_GEN_YOUNG = 10,
    MP_GEN_OLD_VISITED = 11,
    MP_GEN_OLD_PENDING = 12,
    MP_GEN_TRACKED = 20
};

/* More steps than this means the list loops somewhere: 2**32 GC objects of
 * at least 32 bytes would need 128 GiB. */
#define MP_WALK_CAP ((size_t)1 << 32)

static PyObject *
make_generation(mp_state *st, int code)
{
    PyObject *key = PyLong_FromLong(code);
    if (key == NULL) {
        return NULL;
    }
    PyObject *member = PyDict_GetItemWithError(st->generation_members, key);
    Py_DECREF(key);
    if (member == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_SystemError, "no Generation member %d", code);
        }
        return NULL;
    }
    return Py_NewRef(member);
}

#if !MP_FREE_THREADED
static int
walk_failed(mp_state *st)
{
    PyErr_Format(st->error,
                 "a GC list did not return to its head within %zu steps; "
                 "refusing to read further", (size_t)MP_WALK_CAP);
    return -1;
}
#endif

static size_t
hash_pointer(const void *p, size_t mask)
{
    uintptr_t x = (uintptr_t)p >> 4;
    x ^= x >> 17;
    x *= (uintptr_t)0x9E3779B97F4A7C15ULL;
    return (size_t)(x ^ (x >> 29)) & mask;
}

#if !MP_FREE_THREADED

/* ---- Pointer table: the objects a query asks about ----------------------- */

typedef struct {
    PyGC_Head *key;
    int code;
} query_slot;

typedef struct {
    query_slot *slots;
    size_t mask;
    size_t pending;     /* tracked objects whose list is not found yet */
} query_table;

static query_slot *
query_find(query_table *t, PyGC_Head *key)
{
    size_t i = hash_pointer(key, t->mask);
    while (t->slots[i].key != NULL) {
        if (t->slots[i].key == key) {
            return &t->slots[i];
        }
        i = (i + 1) & t->mask;
    }
    return NULL;
}

static int
query_init(query_table *t, size_t n)
{
    size_t size = 8;
    while (size < 2 * n) {
        size <<= 1;
    }
    t->slots = PyMem_RawCalloc(size, sizeof(query_slot));
    if (t->slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    t->mask = size - 1;
    t->pending = 0;
    return 0;
}

static void
query_add(query_table *t, PyGC_Head *key)
{
    size_t i = hash_pointer(key, t->mask);
    while (t->slots[i].key != NULL) {
        if (t->slots[i].key == key) {
            return;
        }
        i = (i + 1) & t->mask;
    }
    t->slots[i].key = key;
    t->slots[i].code = MP_GEN_UNKNOWN;
    t->pending++;
}

/* ---- Lists ----------------------------------------------------------------- */

static int
list_code(PyInterpreterState *interp, mp_gc_regime regime, int list)
{
    if (list == MP_PERMANENT_LIST) {
        return MP_GEN_PERMANENT;
    }
    if (regime == MP_GC_INCREMENTAL) {
        if (list == 0) {
            return MP_GEN_YOUNG;
        }
        return list - 1 == mp_gc_visited_space(interp) ? MP_GEN_OLD_VISITED
                                                        : MP_GEN_OLD_PENDING;
    }
    return MP_GEN_0 + list;
}

/* The order lists are searched in: short ones first.  When no collection
 * runs, every tracked object is in one of the lists, so the last one need
 * not be walked. */
static const int *
search_order(mp_gc_regime regime)
{
    static const int generational[MP_NUM_LISTS] = {0, 1, MP_PERMANENT_LIST, 2};
    static const int incremental[MP_NUM_LISTS] = {0, MP_PERMANENT_LIST, 1, 2};
    return regime == MP_GC_INCREMENTAL ? incremental : generational;
}

/* Marks the queried objects found in one list.  0 on success, -1 when the
 * list does not close within the step cap. */
static int
walk_list_for(PyGC_Head *head, query_table *t, int code)
{
    size_t steps = 0;
    for (PyGC_Head *p = mp_gc_next(head); p != head; p = mp_gc_next(p)) {
        if (p == NULL || ++steps > MP_WALK_CAP) {
            return -1;
        }
        query_slot *slot = query_find(t, p);
        if (slot != NULL && slot->code == MP_GEN_UNKNOWN) {
            slot->code = code;
            if (--t->pending == 0) {
                return 0;
            }
        }
    }
    return 0;
}

static int
locate_pending(mp_state *st, query_table *t)
{
    PyInterpreterState *interp = PyInterpreterState_Get();
    mp_gc_regime regime = mp_gc_regime_for(st->runtime_hexversion, 0);
    int collecting = mp_gc_state(interp)->collecting;
    const int *order = search_order(regime);

    for (int i = 0; i < MP_NUM_LISTS && t->pending > 0; i++) {
        int list = order[i];
        int code = list_code(interp, regime, list);
        if (i == MP_NUM_LISTS - 1 && !collecting) {
            /* Not in any other list and no collection holds it: here. */
            for (size_t s = 0; s <= t->mask; s++) {
                if (t->slots[s].key && t->slots[s].code == MP_GEN_UNKNOWN) {
                    t->slots[s].code = code;
                }
            }
            t->pending = 0;
            break;
        }
        if (walk_list_for(mp_gc_list_head(interp, list), t, code) < 0) {
            return walk_failed(st);
        }
    }
    /* Tracked, yet in none of the interpreter's lists: a collection has it
     * in one of its temporary lists. */
    for (size_t s = 0; s <= t->mask; s++) {
        if (t->slots[s].key && t->slots[s].code == MP_GEN_UNKNOWN) {
            t->slots[s].code = MP_GEN_IN_COLLECTION;
        }
    }
    return 0;
}

/* One object during a collection: walk forward from it.  Meeting a known
 * head names its list; coming back to the object means it sits in a list
 * whose head the collection keeps on its own stack. */
static int
locate_while_collecting(mp_state *st, PyGC_Head *start)
{
    PyInterpreterState *interp = PyInterpreterState_Get();
    mp_gc_regime regime = mp_gc_regime_for(st->runtime_hexversion, 0);
    PyGC_Head *heads[MP_NUM_LISTS];
    for (int list = 0; list < MP_NUM_LISTS; list++) {
        heads[list] = mp_gc_list_head(interp, list);
    }
    size_t steps = 0;
    for (PyGC_Head *p = mp_gc_next(start); p != start; p = mp_gc_next(p)) {
        if (p == NULL || ++steps > MP_WALK_CAP) {
            walk_failed(st);
            return MP_GEN_UNKNOWN;
        }
        for (int list = 0; list < MP_NUM_LISTS; list++) {
            if (p == heads[list]) {
                return list_code(interp, regime, list);
            }
        }
    }
    return MP_GEN_IN_COLLECTION;
}

static int
classify_untracked(PyObject *op)
{
    if (!PyObject_IS_GC(op)) {
        return MP_GEN_NOT_GC;
    }
    if (!mp_gc_is_tracked(op)) {
        return MP_GEN_UNTRACKED;
    }
    return MP_GEN_UNKNOWN;
}

/* The generation code of one object, or MP_GEN_UNKNOWN with an error. */
static int
generation_code(mp_state *st, PyObject *op)
{
    int code = classify_untracked(op);
    if (code != MP_GEN_UNKNOWN) {
        return code;
    }
    if (mp_gc_state(PyInterpreterState_Get())->collecting) {
        return locate_while_collecting(st, _Py_AS_GC(op));
    }
    /* A table of two slots on the stack: one query, one empty slot that
     * ends every probe sequence. */
    query_slot slots[2] = {{NULL, 0}, {NULL, 0}};
    query_table t = {slots, 1, 0};
    query_add(&t, _Py_AS_GC(op));
    if (locate_pending(st, &t) < 0) {
        return MP_GEN_UNKNOWN;
    }
    return query_find(&t, _Py_AS_GC(op))->code;
}

static int
is_finalized(PyObject *op)
{
    return PyObject_IS_GC(op) && mp_gc_is_finalized(op);
}

#else  /* free-threaded: ob_gc_bits, no lists */

static int
generation_code(mp_state *st, PyObject *op)
{
    (void)st;
    if (!PyObject_IS_GC(op)) {
        return MP_GEN_NOT_GC;
    }
    uint8_t bits = _Py_atomic_load_uint8_relaxed(&op->ob_gc_bits);
    if (!(bits & _PyGC_BITS_TRACKED)) {
        return MP_GEN_UNTRACKED;
    }
    if (bits & _PyGC_BITS_UNREACHABLE) {
        return MP_GEN_IN_COLLECTION;
    }
    return (bits & _PyGC_BITS_FROZEN) ? MP_GEN_PERMANENT : MP_GEN_TRACKED;
}

static int
is_finalized(PyObject *op)
{
    return (_Py_atomic_load_uint8_relaxed(&op->ob_gc_bits)
            & _PyGC_BITS_FINALIZED) != 0;
}

#endif

/* ---- generation(obj), gcinfo(obj), generations(objs) ----------------------- */

/* The generation code of obj once the GC layout check has passed, or
 * MP_GEN_UNKNOWN with an error set. */
static int
checked_generation_code(mp_state *st, PyObject *obj)
{
    if (mp_require(st, MP_PART_GC) < 0) {
        return MP_GEN_UNKNOWN;
    }
    return generation_code(st, obj);
}

PyObject *
mp_generation(PyObject *module, PyObject *obj)
{
    mp_state *st = mp_get_state(module);
    int code = checked_generation_code(st, obj);
    return code == MP_GEN_UNKNOWN ? NULL : make_generation(st, code);
}

PyObject *
mp_gcinfo(PyObject *module, PyObject *obj)
{
    mp_state *st = mp_get_state(module);
    int code = checked_generation_code(st, obj);
    if (code == MP_GEN_UNKNOWN) {
        return NULL;
    }
    int gc_type = PyObject_IS_GC(obj);
    int finalized = gc_type && is_finalized(obj);
    PyObject *gc_bits = Py_NewRef(Py_None);
#if MP_FREE_THREADED
    Py_SETREF(gc_bits, PyLong_FromLong(
        _Py_atomic_load_uint8_relaxed(&obj->ob_gc_bits)));
    if (gc_bits == NULL) {
        return NULL;
    }
#endif
    PyObject *generation = make_generation(st, code);
    if (generation == NULL) {
        Py_DECREF(gc_bits);
        return NULL;
    }
    int tracked = code != MP_GEN_NOT_GC && code != MP_GEN_UNTRACKED;
    PyObject *kw = Py_BuildValue(
        "{sO sN sO sO sN}",
        "tracked", tracked ? Py_True : Py_False,
        "generation", generation,
        "finalized", finalized ? Py_True : Py_False,
        "frozen", code == MP_GEN_PERMANENT ? Py_True : Py_False,
        "gc_bits", gc_bits);
    return mp_build_result(st, MP_TYPE_GCINFO, kw);
}

PyObject *
mp_generations(PyObject *module, PyObject *objs)
{
    mp_state *st = mp_get_state(module);
    if (mp_require(st, MP_PART_GC) < 0) {
        return NULL;
    }
    PyObject *seq = PySequence_Fast(objs, "generations() takes an iterable of objects");
    if (seq == NULL) {
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    int *codes = PyMem_RawMalloc(sizeof(int) * (size_t)(n ? n : 1));
    if (codes == NULL) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    PyObject *result = NULL;
#if !MP_FREE_THREADED
    if (mp_gc_state(PyInterpreterState_Get())->collecting) {
        for (Py_ssize_t i = 0; i < n; i++) {
            codes[i] = generation_code(st, items[i]);
            if (codes[i] == MP_GEN_UNKNOWN) {
                goto done;
            }
        }
    }
    else {
        query_table t;
        if (query_init(&t, (size_t)n) < 0) {
            goto done;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            codes[i] = classify_untracked(items[i]);
            if (codes[i] == MP_GEN_UNKNOWN) {
                query_add(&t, _Py_AS_GC(items[i]));
            }
        }
        int rc = locate_pending(st, &t);
        for (Py_ssize_t i = 0; rc == 0 && i < n; i++) {
            if (codes[i] == MP_GEN_UNKNOWN) {
                codes[i] = query_find(&t, _Py_AS_GC(items[i]))->code;
            }
        }
        PyMem_RawFree(t.slots);
        if (rc < 0) {
            goto done;
        }
    }
#else
    for (Py_ssize_t i = 0; i < n; i++) {
        codes[i] = generation_code(st, items[i]);
        if (codes[i] == MP_GEN_UNKNOWN) {
            goto done;
        }
    }
#endif
    result = PyList_New(n);
    for (Py_ssize_t i = 0; result != NULL && i < n; i++) {
        PyObject *g = make_generation(st, codes[i]);
        if (g == NULL) {
            Py_CLEAR(result);
            break;
        }
        PyList_SET_ITEM(result, i, g);
    }
done:
    PyMem_RawFree(codes);
    Py_DECREF(seq);
    return result;
}

/* ---- gc_state() --------------------------------------------------------------- */

typedef struct {
    mp_gc_regime regime;
    int enabled, collecting;
    int count[MP_NUM_GENERATIONS], threshold[MP_NUM_GENERATIONS];
    Py_ssize_t length[MP_NUM_LISTS];    /* -1: not walkable here */
    mp_gc_counters counters;
} gc_snapshot;

static int
take_gc_snapshot(mp_state *st, gc_snapshot *s)
{
    PyInterpreterState *interp = PyInterpreterState_Get();
    struct _gc_runtime_state *gc = mp_gc_state(interp);
    s->regime = mp_gc_regime_for(st->runtime_hexversion, MP_FREE_THREADED);
    s->enabled = gc->enabled;
    s->collecting = gc->collecting;
    for (int i = 0; i < MP_NUM_GENERATIONS; i++) {
        s->count[i] = mp_gc_count(interp, i);
        s->threshold[i] = mp_gc_threshold(interp, i);
    }
    mp_gc_counters_get(interp, &s->counters);
    for (int list = 0; list < MP_NUM_LISTS; list++) {
        s->length[list] = -1;
#if !MP_FREE_THREADED
        PyGC_Head *head = mp_gc_list_head(interp, list);
        size_t steps = 0;
        for (PyGC_Head *p = mp_gc_next(head); p != head; p = mp_gc_next(p)) {
            if (p == NULL || ++steps > MP_WALK_CAP) {
                return walk_failed(st);
            }
        }
        s->length[list] = (Py_ssize_t)steps;
#endif
    }
    return 0;
}

static PyObject *
optional_ssize(Py_ssize_t value)
{
    return value < 0 ? Py_NewRef(Py_None) : PyLong_FromSsize_t(value);
}

PyObject *
mp_gc_state_probe(PyObject *module, PyObject *unused)
{
    mp_state *st = mp_get_state(module);
    gc_snapshot s;
    if (mp_require(st, MP_PART_GC) < 0 || take_gc_snapshot(st, &s) < 0) {
        return NULL;
    }
    /* Everything is read; only now are Python objects built. */
    PyObject *generations = PyTuple_New(MP_NUM_GENERATIONS);
    if (generations == NULL) {
        return NULL;
    }
    for (int i = 0; i < MP_NUM_GENERATIONS; i++) {
        PyObject *kw = Py_BuildValue(
            "{si si si sN}", "generation", i, "count", s.count[i],
            "threshold", s.threshold[i], "length", optional_ssize(s.length[i]));
        PyObject *gen = mp_build_result(st, MP_TYPE_GENERATION_STATE, kw);
        if (gen == NULL) {
            Py_DECREF(generations);
            return NULL;
        }
        PyTuple_SET_ITEM(generations, i, gen);
    }
    static const char *regimes[] = {"generational", "incremental", "free-threaded"};
    PyObject *kw = Py_BuildValue(
        "{ss sO sO sN sN sn sn sN}",
        "regime", regimes[s.regime],
        "enabled", s.enabled ? Py_True : Py_False,
        "collecting", s.collecting ? Py_True : Py_False,
        "generations", generations,
        "permanent_length", optional_ssize(s.length[MP_PERMANENT_LIST]),
        "long_lived_total", s.counters.long_lived_total,
        "long_lived_pending", s.counters.long_lived_pending,
        "heap_size", optional_ssize(s.counters.heap_size));
    return mp_build_result(st, MP_TYPE_GC_STATE, kw);
}

/* ---- census(generation=None, top=None) ---------------------------------------- */

/* Free-threaded builds have one "list": every tracked object gc.freeze()
 * has not frozen, which is what PyUnstable_GC_VisitObjects visits. */
#if MP_FREE_THREADED
#  define MP_CENSUS_LISTS 1
#else
#  define MP_CENSUS_LISTS MP_NUM_LISTS
#endif

static int
census_list_code(int list)
{
    if (MP_FREE_THREADED) {
        return MP_GEN_TRACKED;
    }
    return list == MP_PERMANENT_LIST ? MP_GEN_PERMANENT : MP_GEN_0 + list;
}

typedef struct {
    PyTypeObject *type;
    Py_ssize_t count[MP_NUM_LISTS];
} census_slot;

typedef struct {
    census_slot *slots;
    size_t mask, used;
} census_table;

static census_slot *
census_slot_for(census_table *t, PyTypeObject *type)
{
    size_t i = hash_pointer(type, t->mask);
    while (t->slots[i].type != NULL && t->slots[i].type != type) {
        i = (i + 1) & t->mask;
    }
    return &t->slots[i];
}

#if !MP_FREE_THREADED
/* Doubles the table; raw memory only, so no collection can start. */
static int
census_grow(census_table *t)
{
    census_table bigger = {NULL, t->mask * 2 + 1, t->used};
    bigger.slots = PyMem_RawCalloc(bigger.mask + 1, sizeof(census_slot));
    if (bigger.slots == NULL) {
        return -1;
    }
    for (size_t i = 0; i <= t->mask; i++) {
        if (t->slots[i].type != NULL) {
            *census_slot_for(&bigger, t->slots[i].type) = t->slots[i];
        }
    }
    PyMem_RawFree(t->slots);
    *t = bigger;
    return 0;
}

static int
census_walk(mp_state *st, census_table *t, int only_list)
{
    PyInterpreterState *interp = PyInterpreterState_Get();
    for (int list = 0; list < MP_NUM_LISTS; list++) {
        if (only_list >= 0 && list != only_list) {
            continue;
        }
        PyGC_Head *head = mp_gc_list_head(interp, list);
        size_t steps = 0;
        for (PyGC_Head *p = mp_gc_next(head); p != head; p = mp_gc_next(p)) {
            if (p == NULL || ++steps > MP_WALK_CAP) {
                return walk_failed(st);
            }
            PyTypeObject *type = Py_TYPE((PyObject *)(p + 1));
            census_slot *slot = census_slot_for(t, type);
            if (slot->type == NULL) {
                if (2 * (t->used + 1) > t->mask + 1) {
                    if (census_grow(t) < 0) {
                        PyErr_NoMemory();
                        return -1;
                    }
                    slot = census_slot_for(t, type);
                }
                slot->type = type;
                t->used++;
            }
            slot->count[list]++;
        }
    }
    return 0;
}
#else
typedef struct {
    census_table *table;
    int full;
} census_visit;

/* Runs with the world stopped: counts into the table and allocates
 * nothing.  A full table stops the visit; the caller grows it and visits
 * again. */
static int
census_visit_object(PyObject *op, void *arg)
{
    census_visit *v = arg;
    census_table *t = v->table;
    census_slot *slot = census_slot_for(t, Py_TYPE(op));
    if (slot->type == NULL) {
        if (2 * (t->used + 1) > t->mask + 1) {
            v->full = 1;
            return 0;
        }
        slot->type = Py_TYPE(op);
        t->used++;
    }
    slot->count[0]++;
    return 1;
}

static int
census_walk(mp_state *st, census_table *t, int only_list)
{
    (void)st;
    (void)only_list;
    for (;;) {
        census_visit v = {t, 0};
        PyUnstable_GC_VisitObjects(census_visit_object, &v);
        if (!v.full) {
            return 0;
        }
        census_table bigger = {NULL, t->mask * 2 + 1, 0};
        bigger.slots = PyMem_RawCalloc(bigger.mask + 1, sizeof(census_slot));
        if (bigger.slots == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        PyMem_RawFree(t->slots);
        *t = bigger;
    }
}
#endif

static int
by_count_desc(const void *a, const void *b)
{
    Py_ssize_t ca = ((const census_slot *)a)->count[0];
    Py_ssize_t cb = ((const census_slot *)b)->count[0];
    return (ca < cb) - (ca > cb);
}

/* Returns {type: count} for one list, or with list == -1 for generations
 * 0-2 together (what gc.get_objects() covers), most common first, at most
 * top entries (top < 0: all).  count[0] of the scratch copy is the sort key. */
static PyObject *
census_dict(census_slot *scratch, const census_table *t, int list, Py_ssize_t top)
{
    size_t n = 0;
    for (size_t i = 0; i <= t->mask; i++) {
        const census_slot *s = &t->slots[i];
        if (s->type == NULL) {
            continue;
        }
        Py_ssize_t c = 0;
        for (int l = 0; l < MP_CENSUS_LISTS; l++) {
            if (list < 0 ? census_list_code(l) != MP_GEN_PERMANENT : l == list) {
                c += s->count[l];
            }
        }
        if (c > 0) {
            scratch[n].type = s->type;
            scratch[n].count[0] = c;
            n++;
        }
    }
    qsort(scratch, n, sizeof(census_slot), by_count_desc);
    PyObject *d = PyDict_New();
    for (size_t i = 0; d != NULL && i < n && (top < 0 || (Py_ssize_t)i < top); i++) {
        PyObject *count = PyLong_FromSsize_t(scratch[i].count[0]);
        if (count == NULL
            || PyDict_SetItem(d, (PyObject *)scratch[i].type, count) < 0) {
            Py_XDECREF(count);
            Py_CLEAR(d);
            break;
        }
        Py_DECREF(count);
    }
    return d;
}

/* census(generation=None, top=None) takes its arguments by vectorcall: a
 * tuple or dict of arguments would itself be a young object in the lists
 * being counted. */
static int
census_arguments(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                 PyObject **generation, PyObject **top)
{
    PyObject **slots[2] = {generation, top};
    static const char *names[2] = {"generation", "top"};
    if (nargs > 2) {
        PyErr_Format(PyExc_TypeError,
                     "census() takes at most 2 arguments (%zd given)", nargs);
        return -1;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        *slots[i] = args[i];
    }
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, k);
        int which = -1;
        for (int i = 0; i < 2; i++) {
            if (PyUnicode_CompareWithASCIIString(name, names[i]) == 0) {
                which = i;
            }
        }
        if (which < 0) {
            PyErr_Format(PyExc_TypeError,
                         "census() got an unexpected keyword argument '%U'", name);
            return -1;
        }
        if (which < nargs) {
            PyErr_Format(PyExc_TypeError,
                         "census() got multiple values for argument '%s'",
                         names[which]);
            return -1;
        }
        *slots[which] = args[nargs + k];
    }
    return 0;
}

PyObject *
mp_census(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
          PyObject *kwnames)
{
    PyObject *generation = Py_None, *top_obj = Py_None;
    if (census_arguments(args, nargs, kwnames, &generation, &top_obj) < 0) {
        return NULL;
    }
    mp_state *st = mp_get_state(module);
    int only_list = -1;
    if (generation != Py_None) {
        if (!PyLong_Check(generation) || PyBool_Check(generation)) {
            PyErr_SetString(PyExc_TypeError,
                            "generation must be None or an int 0-3");
            return NULL;
        }
        long g = PyLong_AsLong(generation);
        if (g == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (g < 0 || g > MP_PERMANENT_LIST) {
            PyErr_Format(PyExc_ValueError,
                         "generation must be 0, 1, 2 or 3 (permanent), not %ld", g);
            return NULL;
        }
        only_list = (int)g;
        if (MP_FREE_THREADED) {
            PyErr_SetString(PyExc_ValueError,
                            "free-threaded builds have no generations: "
                            "census() counts every tracked object that is "
                            "not frozen; pass generation=None");
            return NULL;
        }
    }
    Py_ssize_t top = -1;
    if (top_obj != Py_None) {
        if (!PyLong_Check(top_obj) || PyBool_Check(top_obj)) {
            PyErr_SetString(PyExc_TypeError, "top must be None or an int");
            return NULL;
        }
        top = PyLong_AsSsize_t(top_obj);
        if (top == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (top < 0) {
            PyErr_SetString(PyExc_ValueError, "top must be >= 0");
            return NULL;
        }
    }
    if (mp_require(st, MP_PART_GC) < 0) {
        return NULL;
    }
    census_table t = {NULL, 1023, 0};
    t.slots = PyMem_RawCalloc(t.mask + 1, sizeof(census_slot));
    if (t.slots == NULL) {
        return PyErr_NoMemory();
    }
    int collecting = mp_gc_state(PyInterpreterState_Get())->collecting;
    PyObject *result = NULL, *by_type = NULL, *per_gen = NULL, *totals = NULL;
    census_slot *scratch = NULL;
    if (census_walk(st, &t, only_list) < 0) {
        goto done;
    }
    /* Instances keep their types alive, but building results may run a
     * collection that frees instances: hold every type first. */
    for (size_t i = 0; i <= t.mask; i++) {
        Py_XINCREF(t.slots[i].type);
    }
    scratch = PyMem_RawMalloc(sizeof(census_slot) * (t.used ? t.used : 1));
    if (scratch == NULL) {
        PyErr_NoMemory();
        goto release;
    }
    by_type = census_dict(scratch, &t, only_list, top);
    per_gen = PyDict_New();
    totals = PyDict_New();
    if (by_type == NULL || per_gen == NULL || totals == NULL) {
        goto release;
    }
    for (int list = 0; list < MP_CENSUS_LISTS; list++) {
        if (only_list >= 0 && list != only_list) {
            continue;
        }
        PyObject *gen = make_generation(st, census_list_code(list));
        PyObject *d = gen ? census_dict(scratch, &t, list, top) : NULL;
        Py_ssize_t total = 0;
        for (size_t i = 0; i <= t.mask; i++) {
            total += t.slots[i].type ? t.slots[i].count[list] : 0;
        }
        PyObject *total_obj = d ? PyLong_FromSsize_t(total) : NULL;
        int rc = total_obj == NULL ? -1
                 : (PyDict_SetItem(per_gen, gen, d) < 0
                    || PyDict_SetItem(totals, gen, total_obj) < 0) ? -1 : 0;
        Py_XDECREF(gen);
        Py_XDECREF(d);
        Py_XDECREF(total_obj);
        if (rc < 0) {
            goto release;
        }
    }
    {
        PyObject *gen_arg = only_list < 0 ? Py_NewRef(Py_None)
            : make_generation(st, census_list_code(only_list));
        PyObject *kw = gen_arg == NULL ? NULL : Py_BuildValue(
            "{sN sO sO sO sO}",
            "generation", gen_arg,
            "by_type", by_type,
            "by_generation", totals,
            "per_generation", per_gen,
            "collecting", collecting ? Py_True : Py_False);
        result = mp_build_result(st, MP_TYPE_CENSUS, kw);
    }
release:
    for (size_t i = 0; i <= t.mask; i++) {
        Py_XDECREF(t.slots[i].type);
    }
done:
    Py_XDECREF(by_type);
    Py_XDECREF(per_gen);
    Py_XDECREF(totals);
    PyMem_RawFree(scratch);
    PyMem_RawFree(t.slots);
    return result;
}
