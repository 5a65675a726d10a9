/* census.c: tracked objects counted per type and per list, without listing
 * them.
 *
 * Visits the collector's objects through mp_gc_visit (gc_lists.c on GIL
 * builds: generations 0-2 and the permanent generation; gc_bits.c on
 * free-threaded builds: every tracked object not frozen) and reads each
 * object's ob_type.  Counts go into a table in raw memory; on free-threaded
 * builds, where the visit runs with the world stopped and may not allocate,
 * a full table ends the visit and the census starts again with a larger
 * one.  Python objects are built only after the visit, and instances of
 * memprobe's own result types (handed over at import, _set_own_types) are
 * left out of the rows and counted apart.  snapshot.c reads a census with
 * the other parts and takes the lists' lengths from it.
 */
#include "parts.h"

static mp_census_slot *
slot_for(const mp_census *t, PyTypeObject *type)
{
    size_t i = mp_hash_pointer(type, t->mask);
    while (t->slots[i].type != NULL && t->slots[i].type != type) {
        i = (i + 1) & t->mask;
    }
    return &t->slots[i];
}

int
mp_census_init(mp_census *t, size_t size)
{
    t->slots = PyMem_RawCalloc(size, sizeof(mp_census_slot));
    t->mask = size - 1;
    t->used = 0;
    t->full = 0;
    t->held = 0;
    return t->slots == NULL ? -1 : 0;
}

/* Doubles the table, keeping its counts: 0, or -1 (table unchanged). */
static int
table_grow(mp_census *t)
{
    mp_census bigger;
    if (mp_census_init(&bigger, 2 * (t->mask + 1)) < 0) {
        return -1;
    }
    for (size_t i = 0; i <= t->mask; i++) {
        if (t->slots[i].type != NULL) {
            *slot_for(&bigger, t->slots[i].type) = t->slots[i];
        }
    }
    bigger.used = t->used;
    PyMem_RawFree(t->slots);
    *t = bigger;
    return 0;
}

int
mp_census_count(mp_census *t, PyTypeObject *type, int list, int may_grow)
{
    mp_census_slot *slot = slot_for(t, type);
    if (slot->type == NULL) {
        if (2 * (t->used + 1) > t->mask + 1) {
            if (!may_grow || table_grow(t) < 0) {
                t->full = 1;
                return 1;
            }
            slot = slot_for(t, type);
        }
        slot->type = type;
        t->used++;
    }
    slot->count[list]++;
    return 0;
}

static int
count_object(PyObject *op, int list, void *arg)
{
    return mp_census_count(arg, Py_TYPE(op), list, MP_GC_VISIT_MAY_ALLOCATE);
}

/* Slots a census starts with: where the visit cannot allocate
 * (free-threaded builds) a full table means a second visit, so it starts
 * large; elsewhere it grows in place, and a small start keeps a census of
 * a short walk cheap. */
#define MP_CENSUS_START (MP_GC_VISIT_MAY_ALLOCATE ? 128 : 1024)

int
mp_census_read(mp_state *st, unsigned lists, mp_census *t)
{
    size_t size = MP_CENSUS_START;
    unsigned empty = mp_gc_empty_lists();
    for (;;) {
        if (mp_census_init(t, size) < 0) {
            PyErr_NoMemory();
            return -1;
        }
        if (mp_gc_visit(st, lists, count_object, t) < 0) {
            mp_census_release(t);
            return -1;
        }
        if (!t->full) {
            break;
        }
        PyMem_RawFree(t->slots);
        t->slots = NULL;
        if (MP_GC_VISIT_MAY_ALLOCATE) {
            PyErr_NoMemory();       /* the table could not grow */
            return -1;
        }
        size *= 2;
    }
    /* Instances keep their types alive, but building results may run a
     * collection that frees instances: hold every type first. */
    for (size_t i = 0; i <= t->mask; i++) {
        Py_XINCREF(t->slots[i].type);
    }
    t->held = 1;
    t->known = (lists | empty) & MP_EVERY_LIST;
    return 0;
}

void
mp_census_release(mp_census *t)
{
    if (t->slots == NULL) {
        return;
    }
    for (size_t i = 0; i <= t->mask && t->held; i++) {
        Py_XDECREF(t->slots[i].type);
    }
    PyMem_RawFree(t->slots);
    t->slots = NULL;
}

void
mp_census_lengths(const mp_census *t, Py_ssize_t length[MP_NUM_LISTS])
{
    for (int list = 0; list < MP_NUM_LISTS; list++) {
        length[list] = (t->known & MP_LIST(list)) ? 0 : -1;
    }
    for (size_t i = 0; i <= t->mask; i++) {
        for (int list = 0; t->slots[i].type != NULL && list < MP_GC_LISTS;
             list++) {
            if (t->known & MP_LIST(list)) {
                length[list] += t->slots[i].count[list];
            }
        }
    }
}

int
mp_is_own_type(PyObject *own, PyTypeObject *type)
{
    for (Py_ssize_t i = 0; own != NULL && i < PyTuple_GET_SIZE(own); i++) {
        if (PyTuple_GET_ITEM(own, i) == (PyObject *)type) {
            return 1;
        }
    }
    return 0;
}

/* A tuple of n ints. */
static PyObject *
int_tuple(const Py_ssize_t *value, Py_ssize_t n)
{
    PyObject *t = PyTuple_New(n);
    for (Py_ssize_t i = 0; t != NULL && i < n; i++) {
        PyObject *v = PyLong_FromSsize_t(value[i]);
        if (v == NULL) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}

/* Marks, in mine[] (a byte a slot), the slots of memprobe's own result
 * types: a lookup per own type, not a search of them per slot (a census
 * of 200 types made 40,000 comparisons of its 40 own types). */
static void
mark_own(PyObject *own, const mp_census *t, char *mine)
{
    for (Py_ssize_t i = 0; own != NULL && i < PyTuple_GET_SIZE(own); i++) {
        mp_census_slot *slot = slot_for(t, (PyTypeObject *)PyTuple_GET_ITEM(own, i));
        if (slot->type != NULL) {
            mine[slot - t->slots] = 1;
        }
    }
}

/* The types counted, memprobe's own (mine[]) left out, in table order,
 * and their counts as columns: one per list, then the sum over the lists
 * counted but the permanent one (census's by_type); a column is a tuple of
 * ints in the order of the types.  0, or -1 with an error set. */
static int
columns_of(const char *mine, const mp_census *t, PyObject **types,
           PyObject **columns)
{
    Py_ssize_t n = 0;
    for (size_t i = 0; i <= t->mask; i++) {
        n += t->slots[i].type != NULL && !mine[i];
    }
    Py_ssize_t *values = PyMem_RawMalloc(((size_t)n + 1) * sizeof(Py_ssize_t));
    *types = values ? PyTuple_New(n) : PyErr_NoMemory();
    *columns = *types ? PyTuple_New(MP_GC_LISTS + 1) : NULL;
    for (int column = 0; *columns != NULL && column <= MP_GC_LISTS; column++) {
        Py_ssize_t k = 0;
        for (size_t i = 0; i <= t->mask; i++) {
            const mp_census_slot *s = &t->slots[i];
            if (s->type == NULL || mine[i]) {
                continue;
            }
            if (column == 0) {
                PyTuple_SET_ITEM(*types, k, Py_NewRef((PyObject *)s->type));
            }
            if (column < MP_GC_LISTS) {
                values[k++] = s->count[column];
                continue;
            }
            values[k] = 0;
            for (int list = 0; list < MP_PERMANENT_LIST; list++) {
                values[k] += (t->known & MP_LIST(list)) ? s->count[list] : 0;
            }
            k++;
        }
        PyObject *counts = int_tuple(values, n);
        if (counts == NULL) {
            Py_CLEAR(*columns);
            break;
        }
        PyTuple_SET_ITEM(*columns, column, counts);
    }
    PyMem_RawFree(values);
    if (*columns == NULL) {
        Py_CLEAR(*types);
        return -1;
    }
    return 0;
}

PyObject *
mp_census_build(mp_state *st, const mp_census *t)
{
    Py_ssize_t code[MP_NUM_LISTS], own[MP_NUM_LISTS] = {0};
    Py_ssize_t known[MP_NUM_LISTS], total[MP_NUM_LISTS] = {0};
    char *mine = PyMem_RawCalloc(t->mask + 1, 1);
    if (mine == NULL) {
        return PyErr_NoMemory();
    }
    mark_own(st->own_types, t, mine);
    for (int list = 0; list < MP_GC_LISTS; list++) {
        code[list] = mp_gc_list_code(st, list);
        known[list] = (t->known & MP_LIST(list)) != 0;
    }
    for (size_t i = 0; i <= t->mask; i++) {
        if (t->slots[i].type == NULL) {
            continue;
        }
        Py_ssize_t *into = mine[i] ? own : total;
        for (int list = 0; list < MP_GC_LISTS; list++) {
            into[list] += t->slots[i].count[list];
        }
    }
    PyObject *types = NULL, *columns = NULL;
    PyObject *codes = int_tuple(code, MP_GC_LISTS);
    PyObject *totals = codes ? int_tuple(total, MP_GC_LISTS) : NULL;
    PyObject *owns = totals ? int_tuple(own, MP_GC_LISTS) : NULL;
    PyObject *knowns = owns ? int_tuple(known, MP_GC_LISTS) : NULL;
    PyObject *result = NULL;
    if (knowns != NULL && columns_of(mine, t, &types, &columns) == 0) {
        result = PyTuple_Pack(6, codes, types, columns, totals, owns, knowns);
    }
    PyMem_RawFree(mine);
    Py_XDECREF(codes);
    Py_XDECREF(totals);
    Py_XDECREF(owns);
    Py_XDECREF(knowns);
    Py_XDECREF(types);
    Py_XDECREF(columns);
    return result;
}

/* The set of lists an entry point's one int argument names: bits of
 * MP_LIST (the argument is one positional object: a tuple or dict of
 * arguments would itself be a young object in the lists being read).
 * (unsigned)-1 with an error set. */
unsigned
mp_lists_argument(PyObject *arg)
{
    long lists = PyLong_CheckExact(arg) ? PyLong_AsLong(arg) : -1;
    if (lists < 0 || lists > (long)MP_EVERY_LIST) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_ValueError, "no such set of lists: %R", arg);
        }
        return (unsigned)-1;
    }
    return (unsigned)lists;
}

/* _census(lists, /) -> (collecting, built): the lists of the set counted
 * (built: mp_census_build; lists outside the set are known only when
 * empty). */
static PyObject *
census(PyObject *module, PyObject *lists_arg)
{
    unsigned lists = mp_lists_argument(lists_arg);
    if (lists == (unsigned)-1) {
        return NULL;
    }
    mp_state *st = mp_probe_state(module, MP_PART_GC);
    if (st == NULL) {
        return NULL;
    }
    int collecting = mp_gc_state(PyInterpreterState_Get())->collecting;
    mp_census t;
    if (mp_census_read(st, lists, &t) < 0) {
        return NULL;
    }
    PyObject *built = mp_census_build(st, &t);
    PyObject *result = built ? Py_BuildValue(
        "(ON)", collecting ? Py_True : Py_False, built) : NULL;
    mp_census_release(&t);
    return result;
}

/* _set_own_types(types, /): memprobe's result types, once, at import:
 * census leaves their instances out. */
static PyObject *
set_own_types(PyObject *module, PyObject *types)
{
    mp_state *st = mp_module_state(module);
    if (st == NULL) {
        return NULL;
    }
    if (!PyTuple_CheckExact(types)) {
        PyErr_SetString(PyExc_TypeError, "_set_own_types takes a tuple of types");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(types); i++) {
        if (!PyType_Check(PyTuple_GET_ITEM(types, i))) {
            PyErr_SetString(PyExc_TypeError, "_set_own_types takes a tuple of types");
            return NULL;
        }
    }
    Py_XSETREF(st->own_types, Py_NewRef(types));
    Py_RETURN_NONE;
}

static PyMethodDef census_methods[] = {
    {"_census", census, METH_O,
     "_census(lists, /)\n--\n\nTracked objects per type and list, counted "
     "in C: (collecting, (codes, types, columns, totals, own, known))."},
    {"_set_own_types", set_own_types, METH_O,
     "_set_own_types(types, /)\n--\n\nmemprobe's result types, which "
     "census leaves out (once, at import)."},
    {NULL, NULL, 0, NULL}
};

int
mp_init_census(PyObject *module, mp_state *st)
{
    (void)st;
    return PyModule_AddFunctions(module, census_methods);
}
