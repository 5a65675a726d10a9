/* maker.c: building memprobe's typed results at the cost of a tuple.
 *
 * Python decides every result's type and fields; this part only makes
 * instances fast.  A frozen dataclass's __init__ stores each field through
 * object.__setattr__ (about 1 µs for five fields on 3.12: more than most
 * probes cost), and a NamedTuple's __new__ is a Python function.  A Maker,
 * made once per class at import, does the same stores from C:
 *
 *   _maker(cls, fields) takes only memprobe's own result types (the
 *   tuple registered at import), and checks that each name in fields is a plain object
 *   slot of cls itself (a __slots__ member descriptor: PyMemberDef with
 *   T_OBJECT_EX, writable) and keeps its offset; for a tuple subclass (a
 *   NamedTuple) it keeps only the number of fields.  It returns the
 *   maker's two bound methods (the Maker type itself stays private):
 *   maker.new(*values) allocates cls through its tp_alloc and stores each
 *   value in its slot, or, for a tuple subclass, in its items, as
 *   tuple.__new__(cls, values) does (and, like it, marks 3.14's cached
 *   tuple hash as not computed).
 *   maker.rows(flat) makes one instance per len(fields) values of a tuple.
 *
 * Reads PyTypeObject (tp_dict, tp_alloc, tp_basicsize, tp_itemsize) and
 * PyMemberDescrObject.d_member, the same in 3.9-3.15.  No Python code runs
 * while an instance is made.
 */
#include "parts.h"

typedef struct {
    PyObject_VAR_HEAD
    PyTypeObject *cls;      /* strong */
    int is_tuple;           /* a tuple subclass: values are its items */
    Py_ssize_t offsets[1];  /* Py_SIZE(self) of them: slot offsets */
} maker_object;

static int
maker_traverse(maker_object *self, visitproc visit, void *arg)
{
    Py_VISIT(self->cls);
    Py_VISIT(Py_TYPE(self));
    return 0;
}

static int
maker_clear(maker_object *self)
{
    Py_CLEAR(self->cls);
    return 0;
}

static void
maker_dealloc(maker_object *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    maker_clear(self);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

PyObject *
mp_tuple_of(PyTypeObject *cls, PyObject **items, Py_ssize_t n)
{
    PyObject *obj = NULL;
    Py_ssize_t i;
    for (i = 0; i < n && items[i] != NULL; i++) {
    }
    if (i == n) {
        obj = cls->tp_alloc(cls, n);
    }
    for (i = 0; i < n; i++) {
        if (obj != NULL) {
            PyTuple_SET_ITEM(obj, i, items[i]);
        }
        else {
            Py_XDECREF(items[i]);
        }
    }
    if (obj != NULL) {
        mp_tuple_reset_hash(obj);
    }
    return obj;
}

/* An instance of self->cls from n values, or NULL with an error set. */
static PyObject *
make_one(maker_object *self, PyObject *const *values, Py_ssize_t n)
{
    if (self->cls == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "this maker was cleared");
        return NULL;
    }
    if (n != Py_SIZE(self)) {
        PyErr_Format(PyExc_TypeError, "%s takes %zd values (%zd given)",
                     self->cls->tp_name, Py_SIZE(self), n);
        return NULL;
    }
    if (self->is_tuple) {
        PyObject *items[MP_MAX_FIELDS];
        for (Py_ssize_t i = 0; i < n; i++) {
            items[i] = Py_NewRef(values[i]);
        }
        return mp_tuple_of(self->cls, items, n);
    }
    PyObject *obj = self->cls->tp_alloc(self->cls, 0);
    if (obj == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        *(PyObject **)((char *)obj + self->offsets[i]) = Py_NewRef(values[i]);
    }
    return obj;
}

static PyObject *
maker_new(maker_object *self, PyObject *const *args, Py_ssize_t nargs)
{
    return make_one(self, args, nargs);
}

static PyObject *
maker_rows(maker_object *self, PyObject *flat)
{
    if (!PyTuple_CheckExact(flat)) {
        PyErr_SetString(PyExc_TypeError, "rows() takes a tuple");
        return NULL;
    }
    Py_ssize_t width = Py_SIZE(self), total = PyTuple_GET_SIZE(flat);
    if (width == 0 || total % width != 0) {
        PyErr_Format(PyExc_ValueError, "rows(): %zd values are not rows of %zd",
                     total, width);
        return NULL;
    }
    PyObject *rows = PyTuple_New(total / width);
    for (Py_ssize_t i = 0; rows != NULL && i < total / width; i++) {
        PyObject *row = make_one(
            self, ((PyTupleObject *)flat)->ob_item + i * width, width);
        if (row == NULL) {
            Py_CLEAR(rows);
            break;
        }
        PyTuple_SET_ITEM(rows, i, row);
    }
    return rows;
}

static PyMethodDef maker_methods[] = {
    {"new", (PyCFunction)(void (*)(void))maker_new, METH_FASTCALL,
     "new($self, /, *values)\n--\n\nAn instance with these field values, in order."},
    {"rows", (PyCFunction)maker_rows, METH_O,
     "rows($self, flat, /)\n--\n\nOne instance per len(fields) values of a tuple."},
    {NULL, NULL, 0, NULL}
};

static PyType_Slot maker_slots[] = {
    {Py_tp_traverse, maker_traverse},
    {Py_tp_clear, maker_clear},
    {Py_tp_dealloc, maker_dealloc},
    {Py_tp_methods, maker_methods},
    {Py_tp_doc, "Makes instances of one memprobe result class (see maker.c)."},
    {0, NULL}
};

static PyType_Spec maker_spec = {
    .name = "memprobe._memprobe.Maker",
    .basicsize = offsetof(maker_object, offsets),
    .itemsize = sizeof(Py_ssize_t),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | MP_NOT_INSTANTIABLE,
    .slots = maker_slots,
};

/* The offset of cls's own slot `name`, or -1 with an error set. */
static Py_ssize_t
slot_offset(PyTypeObject *cls, PyObject *name)
{
    PyObject *descr = PyDict_GetItemWithError(cls->tp_dict, name);
    if (descr == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_TypeError, "_maker(): %s has no slot %R",
                         cls->tp_name, name);
        }
        return -1;
    }
    if (!Py_IS_TYPE(descr, &PyMemberDescr_Type)
        || ((PyDescrObject *)descr)->d_type != cls) {
        PyErr_Format(PyExc_TypeError, "_maker(): %s.%U is not a slot of "
                     "the class itself", cls->tp_name, name);
        return -1;
    }
    PyMemberDef *m = ((PyMemberDescrObject *)descr)->d_member;
    if (m->type != MP_T_OBJECT_EX || (m->flags & MP_READONLY)
        || m->offset < (Py_ssize_t)sizeof(PyObject)
        || m->offset + (Py_ssize_t)sizeof(PyObject *) > cls->tp_basicsize) {
        PyErr_Format(PyExc_TypeError, "_maker(): %s.%U is not a writable "
                     "object slot", cls->tp_name, name);
        return -1;
    }
    return m->offset;
}

/* _maker(cls, fields) -> (maker.new, maker.rows) */
static PyObject *
make_maker(PyObject *module, PyObject *args)
{
    PyTypeObject *cls;
    PyObject *fields;
    if (!PyArg_ParseTuple(args, "O!O!:_maker", &PyType_Type, &cls,
                          &PyTuple_Type, &fields)) {
        return NULL;
    }
    mp_state *st = mp_module_state(module);
    if (st == NULL) {
        return NULL;
    }
    /* Only memprobe's own result types (registered at import): a class
     * that needs its base's constructor (a dict or set subclass, a struct
     * sequence with hidden fields) must never be made by tp_alloc alone. */
    PyObject *own = st->own_types;
    if (!mp_is_own_type(own, cls)) {
        PyErr_Format(PyExc_TypeError, "_maker(): %s is not one of memprobe's "
                     "result types", cls->tp_name);
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(fields);
    if (n > MP_MAX_FIELDS) {
        PyErr_Format(PyExc_ValueError, "_maker(): more than %d fields",
                     MP_MAX_FIELDS);
        return NULL;
    }
    int is_tuple = PyType_IsSubtype(cls, &PyTuple_Type);
    if (!is_tuple && (cls->tp_itemsize != 0
                      || !(cls->tp_flags & Py_TPFLAGS_HEAPTYPE))) {
        PyErr_Format(PyExc_TypeError, "_maker(): %s is not a class with "
                     "__slots__ or a NamedTuple", cls->tp_name);
        return NULL;
    }
    PyTypeObject *type = (PyTypeObject *)st->maker_type;
    maker_object *self = (maker_object *)type->tp_alloc(type, n);
    if (self == NULL) {
        return NULL;
    }
    self->cls = (PyTypeObject *)Py_NewRef(cls);
    self->is_tuple = is_tuple;
    for (Py_ssize_t i = 0; i < n && !is_tuple; i++) {
        PyObject *name = PyTuple_GET_ITEM(fields, i);
        self->offsets[i] = PyUnicode_Check(name) ? slot_offset(cls, name) : -1;
        for (Py_ssize_t j = 0; j < i && self->offsets[i] >= 0; j++) {
            if (self->offsets[j] == self->offsets[i]) {
                PyErr_Format(PyExc_TypeError, "_maker(): field %R twice", name);
                self->offsets[i] = -1;
            }
        }
        if (self->offsets[i] < 0) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_TypeError, "_maker(): field names "
                                "must be str");
            }
            Py_DECREF(self);
            return NULL;
        }
    }
    PyObject *make = PyObject_GetAttrString((PyObject *)self, "new");
    PyObject *rows = make ? PyObject_GetAttrString((PyObject *)self, "rows")
                          : NULL;
    PyObject *result = rows ? PyTuple_Pack(2, make, rows) : NULL;
    Py_XDECREF(make);
    Py_XDECREF(rows);
    Py_DECREF(self);
    return result;
}

static PyMethodDef maker_functions[] = {
    {"_maker", make_maker, METH_VARARGS,
     "_maker(cls, fields, /)\n--\n\n"
     "(new, rows) of a Maker of cls: new(*values) stores each value in the "
     "slot of the same name, without running __init__; rows(flat) makes one "
     "instance per len(fields) values."},
    {NULL, NULL, 0, NULL}
};

int
mp_init_maker(PyObject *module, mp_state *st)
{
    st->maker_type = PyType_FromModuleAndSpec(module, &maker_spec, NULL);
    if (st->maker_type == NULL) {
        return -1;
    }
    return PyModule_AddFunctions(module, maker_functions);
}
