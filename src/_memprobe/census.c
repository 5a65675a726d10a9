/* census.c: tracked objects counted per type and per list, without listing
 * them.
 *
 * Visits the collector's objects through mp_gc_visit (gc_lists.c on GIL
 * builds: generations 0-2 and the permanent generation; gc_bits.c on
 * free-threaded builds: every tracked object not frozen) and reads each
 * object's ob_type.  Counts go into a table in raw memory; on free-threaded
 * builds, where the visit runs with the world stopped and may not allocate,
 * a full table ends the visit and the census starts again with a larger
 * one.  Python objects are built only after the visit.
 */
#include "parts.h"

typedef struct {
    PyTypeObject *type;
    Py_ssize_t count[MP_NUM_LISTS];
} census_slot;

typedef struct {
    census_slot *slots;
    size_t mask, used;
    int full;           /* a new type found no room and none could be made */
} census_table;

static census_slot *
slot_for(census_table *t, PyTypeObject *type)
{
    size_t i = mp_hash_pointer(type, t->mask);
    while (t->slots[i].type != NULL && t->slots[i].type != type) {
        i = (i + 1) & t->mask;
    }
    return &t->slots[i];
}

/* An empty table of 2**k slots: 0, or -1 when memory ran out. */
static int
table_init(census_table *t, size_t size)
{
    t->slots = PyMem_RawCalloc(size, sizeof(census_slot));
    t->mask = size - 1;
    t->used = 0;
    t->full = 0;
    return t->slots == NULL ? -1 : 0;
}

/* Doubles the table, keeping its counts: 0, or -1 (table unchanged). */
static int
table_grow(census_table *t)
{
    census_table bigger;
    if (table_init(&bigger, 2 * (t->mask + 1)) < 0) {
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

static int
count_object(PyObject *op, int list, void *arg)
{
    census_table *t = arg;
    census_slot *slot = slot_for(t, Py_TYPE(op));
    if (slot->type == NULL) {
        if (2 * (t->used + 1) > t->mask + 1) {
            if (!MP_GC_VISIT_MAY_ALLOCATE || table_grow(t) < 0) {
                t->full = 1;
                return 1;
            }
            slot = slot_for(t, Py_TYPE(op));
        }
        slot->type = Py_TYPE(op);
        t->used++;
    }
    slot->count[list]++;
    return 0;
}

/* Counts every object of one list (only_list >= 0) or of all: 0, or -1
 * with an error set. */
static int
take_census(mp_state *st, census_table *t, int only_list)
{
    size_t size = 1024;
    for (;;) {
        if (table_init(t, size) < 0) {
            PyErr_NoMemory();
            return -1;
        }
        if (mp_gc_visit(st, only_list, count_object, t) < 0) {
            return -1;
        }
        if (!t->full) {
            return 0;
        }
        PyMem_RawFree(t->slots);
        t->slots = NULL;
        if (MP_GC_VISIT_MAY_ALLOCATE) {
            PyErr_NoMemory();       /* the table could not grow */
            return -1;
        }
        size *= 2;
    }
}

/* The counted rows as (type, count in list 0, ...) for every list. */
static PyObject *
rows_tuple(const census_table *t)
{
    PyObject *rows = PyTuple_New((Py_ssize_t)t->used);
    Py_ssize_t n = 0;
    for (size_t i = 0; rows != NULL && i <= t->mask; i++) {
        const census_slot *s = &t->slots[i];
        if (s->type == NULL) {
            continue;
        }
        PyObject *row = PyTuple_New(1 + MP_GC_LISTS);
        if (row == NULL) {
            Py_CLEAR(rows);
            break;
        }
        PyTuple_SET_ITEM(row, 0, Py_NewRef((PyObject *)s->type));
        for (int list = 0; list < MP_GC_LISTS; list++) {
            PyObject *count = PyLong_FromSsize_t(s->count[list]);
            if (count == NULL) {
                Py_CLEAR(row);
                break;
            }
            PyTuple_SET_ITEM(row, 1 + list, count);
        }
        if (row == NULL) {
            Py_CLEAR(rows);
            break;
        }
        PyTuple_SET_ITEM(rows, n++, row);
    }
    return rows;
}

/* _census(list, /) -> (collecting, codes, rows): list is None (every list)
 * or 0..3; codes holds the generation code of each list; each row is
 * (type, count in each list).  The argument is one positional object: a
 * tuple or dict of arguments would itself be a young object in the lists
 * being counted. */
static PyObject *
census(PyObject *module, PyObject *list_arg)
{
    int only_list = -1;
    if (list_arg != Py_None) {
        long list = PyLong_Check(list_arg) ? PyLong_AsLong(list_arg) : -2;
        if (list == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (list < 0 || list >= MP_GC_LISTS) {
            PyErr_Format(PyExc_ValueError, "_census: no list %R", list_arg);
            return NULL;
        }
        only_list = (int)list;
    }
    mp_state *st = mp_probe_state(module, MP_PART_GC);
    if (st == NULL) {
        return NULL;
    }
    int collecting = mp_gc_state(PyInterpreterState_Get())->collecting;
    census_table t = {NULL, 0, 0, 0};
    if (take_census(st, &t, only_list) < 0) {
        PyMem_RawFree(t.slots);
        return NULL;
    }
    /* Instances keep their types alive, but building results may run a
     * collection that frees instances: hold every type first. */
    for (size_t i = 0; i <= t.mask; i++) {
        Py_XINCREF(t.slots[i].type);
    }
    PyObject *codes = PyTuple_New(MP_GC_LISTS);
    for (int list = 0; codes != NULL && list < MP_GC_LISTS; list++) {
        PyObject *code = PyLong_FromLong(mp_gc_list_code(st, list));
        if (code == NULL) {
            Py_CLEAR(codes);
            break;
        }
        PyTuple_SET_ITEM(codes, list, code);
    }
    PyObject *rows = codes ? rows_tuple(&t) : NULL;
    PyObject *result = rows ? Py_BuildValue("(OOO)",
                                            collecting ? Py_True : Py_False,
                                            codes, rows) : NULL;
    Py_XDECREF(codes);
    Py_XDECREF(rows);
    for (size_t i = 0; i <= t.mask; i++) {
        Py_XDECREF(t.slots[i].type);
    }
    PyMem_RawFree(t.slots);
    return result;
}

static PyMethodDef census_methods[] = {
    {"_census", census, METH_O,
     "_census(list, /)\n--\n\nTracked objects per type and list, counted "
     "in C: (collecting, codes, rows)."},
    {NULL, NULL, 0, NULL}
};

int
mp_init_census(PyObject *module, mp_state *st)
{
    (void)st;
    return PyModule_AddFunctions(module, census_methods);
}
