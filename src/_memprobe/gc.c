/* gc.c: the collector probes' entry points.
 *
 * Reads PyInterpreterState.gc of the calling interpreter through compat.h
 * (enabled, collecting, counts and thresholds, the long-lived counters and,
 * 3.14+, heap_size), and asks gc_lists.c (GIL builds) or gc_bits.c
 * (free-threaded builds) where objects are.  Everything is read into C
 * memory before the plain results are built; memprobe/_gc.py types them.
 */
#include "parts.h"

/* _generation(obj) -> the generation code of obj. */
static PyObject *
generation(PyObject *module, PyObject *obj)
{
    mp_state *st = mp_probe_state(module, MP_PART_GC);
    int code;
    if (st == NULL || mp_gc_locate(st, &obj, 1, &code) < 0) {
        return NULL;
    }
    return PyLong_FromLong(code);
}

/* _gcinfo(obj) -> (generation code, finalized, gc_bits or None). */
static PyObject *
gcinfo(PyObject *module, PyObject *obj)
{
    mp_state *st = mp_probe_state(module, MP_PART_GC);
    int code;
    if (st == NULL || mp_gc_locate(st, &obj, 1, &code) < 0) {
        return NULL;
    }
    int finalized = mp_gc_finalized(obj);
    int bits = mp_gc_bits(obj);
    if (bits < 0) {
        return Py_BuildValue("(iOO)", code, finalized ? Py_True : Py_False,
                             Py_None);
    }
    return Py_BuildValue("(iOi)", code, finalized ? Py_True : Py_False, bits);
}

/* _generations(objs) -> [generation code of each], in one pass. */
static PyObject *
generations(PyObject *module, PyObject *objs)
{
    mp_state *st = mp_probe_state(module, MP_PART_GC);
    if (st == NULL) {
        return NULL;
    }
    PyObject *seq = PySequence_Fast(objs, "generations() takes an iterable "
                                          "of objects");
    if (seq == NULL) {
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    int *codes = PyMem_RawMalloc(sizeof(int) * (size_t)(n ? n : 1));
    if (codes == NULL) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    PyObject *result = NULL;
    if (mp_gc_locate(st, PySequence_Fast_ITEMS(seq), n, codes) == 0) {
        result = PyList_New(n);
    }
    for (Py_ssize_t i = 0; result != NULL && i < n; i++) {
        PyObject *code = PyLong_FromLong(codes[i]);
        if (code == NULL) {
            Py_CLEAR(result);
            break;
        }
        PyList_SET_ITEM(result, i, code);
    }
    PyMem_RawFree(codes);
    Py_DECREF(seq);
    return result;
}

/* An int, or None for a negative value (not known here). */
static PyObject *
optional_ssize(Py_ssize_t value)
{
    return value < 0 ? Py_NewRef(Py_None) : PyLong_FromSsize_t(value);
}

void
mp_gc_read(mp_gc_reading *r)
{
    mp_gc_read_of(PyInterpreterState_Get(), r);
}

void
mp_gc_read_of(PyInterpreterState *interp, mp_gc_reading *r)
{
    struct _gc_runtime_state *gc = mp_gc_state(interp);
    r->enabled = gc->enabled;
    r->collecting = gc->collecting;
    for (int i = 0; i < MP_NUM_GENERATIONS; i++) {
        r->count[i] = mp_gc_count(interp, i);
        r->threshold[i] = mp_gc_threshold(interp, i);
    }
    mp_gc_counters_get(interp, &r->counters);
    for (int list = 0; list < MP_NUM_LISTS; list++) {
        r->length[list] = -1;
    }
}

/* (enabled, collecting, counts, thresholds, lengths, long_lived_total,
 * long_lived_pending, heap_size), where counts and thresholds hold
 * generations 0-2, lengths the walked lengths of generations 0-2 and the
 * permanent generation (None: no such list, or not walked), and heap_size
 * is None before 3.14. */
PyObject *
mp_gc_build(const mp_gc_reading *r)
{
    return Py_BuildValue(
        "(OO(iii)(iii)(NNNN)nnN)",
        r->enabled ? Py_True : Py_False, r->collecting ? Py_True : Py_False,
        r->count[0], r->count[1], r->count[2],
        r->threshold[0], r->threshold[1], r->threshold[2],
        optional_ssize(r->length[0]), optional_ssize(r->length[1]),
        optional_ssize(r->length[2]), optional_ssize(r->length[3]),
        r->counters.long_lived_total, r->counters.long_lived_pending,
        optional_ssize(r->counters.heap_size));
}

/* _gc_state(lists, /) -> mp_gc_build's tuple, the lists of the set
 * walked. */
static PyObject *
gc_state(PyObject *module, PyObject *lists_arg)
{
    unsigned lists = mp_lists_argument(lists_arg);
    mp_state *st = lists == (unsigned)-1 ? NULL
                                         : mp_probe_state(module, MP_PART_GC);
    if (st == NULL) {
        return NULL;
    }
    mp_gc_reading r;
    mp_gc_read(&r);
    if (mp_gc_list_lengths(st, lists, r.length) < 0) {
        return NULL;
    }
    /* Everything is read; only now are Python objects built. */
    return mp_gc_build(&r);
}

static int
count_visited(PyObject *op, int list, void *arg)
{
    (void)op;
    (void)list;
    (*(Py_ssize_t *)arg)++;
    return 0;
}

/* Benchmark floor: _bare_walk(lists) -> the number of objects visited in
 * the lists of the set, doing nothing else (the walk census() and
 * snapshot() cannot do without). */
PyObject *
mp_bare_walk(PyObject *module, PyObject *lists_arg)
{
    unsigned lists = mp_lists_argument(lists_arg);
    mp_state *st = lists == (unsigned)-1 ? NULL
                                         : mp_probe_state(module, MP_PART_GC);
    Py_ssize_t n = 0;
    if (st == NULL || mp_gc_visit(st, lists, count_visited, &n) < 0) {
        return NULL;
    }
    return PyLong_FromSsize_t(n);
}

static PyMethodDef gc_methods[] = {
    {"_generation", generation, METH_O,
     "_generation(obj, /)\n--\n\nThe generation code of obj."},
    {"_gcinfo", gcinfo, METH_O,
     "_gcinfo(obj, /)\n--\n\n(generation code, finalized, gc_bits or None)."},
    {"_generations", generations, METH_O,
     "_generations(objs, /)\n--\n\nThe generation code of each object, "
     "in one pass over the collector's lists."},
    {"_gc_state", gc_state, METH_O,
     "_gc_state(lists, /)\n--\n\nThe collector's state, as plain data, "
     "the lists of the set walked."},
    {NULL, NULL, 0, NULL}
};

/* GENERATION_CODES: {name: code}, the values of memprobe.Generation. */
static int
add_generation_codes(PyObject *module)
{
    PyObject *codes = PyDict_New();
    if (codes == NULL) {
        return -1;
    }
#define MP_ADD_CODE(name, value) \
    if (rc == 0) { \
        PyObject *v = PyLong_FromLong(value); \
        rc = v ? PyDict_SetItemString(codes, #name, v) : -1; \
        Py_XDECREF(v); \
    }
    int rc = 0;
    MP_GENERATION_CODES(MP_ADD_CODE)
#undef MP_ADD_CODE
    if (rc == 0) {
        rc = PyModule_AddObjectRef(module, "GENERATION_CODES", codes);
    }
    Py_DECREF(codes);
    return rc;
}

int
mp_init_gc(PyObject *module, mp_state *st)
{
    (void)st;
    if (add_generation_codes(module) < 0
        || PyModule_AddIntConstant(module, "EVERY_LIST", MP_EVERY_LIST) < 0
        || PyModule_AddIntConstant(module, "UNFROZEN_LISTS",
                                   MP_UNFROZEN_LISTS) < 0) {
        return -1;
    }
    return PyModule_AddFunctions(module, gc_methods);
}
