/* refcount.c: the reference count field of one object.
 *
 * Reads PyObject's header through mp_read_refcnt (compat.h), which knows the
 * layout of every version: ob_refcnt (3.9-3.11), the split union (3.12,
 * 3.13), {ob_refcnt, ob_overflow, ob_flags} (3.14+) and the local/shared pair
 * of free-threaded builds.  The whole view is copied out before any Python
 * object is created, so building the result cannot change what was read.
 *
 * Both probes are called directly (see the rule in parts.h): a Python
 * wrapper would hold references to obj that the count would include.
 */
#include "parts.h"

static PyObject *
refcount(PyObject *module, PyObject *obj)
{
    mp_refcnt_view view;
    mp_read_refcnt(obj, &view);
    if (mp_probe_state(module, MP_PART_REFCOUNT) == NULL) {
        return NULL;
    }
    return PyLong_FromSsize_t(view.count);
}

/* The str fields of RefInfo, made once at init: the layout's name by
 * mp_refcnt_layout, then the shared state's by its two low bits
 * (Include/internal/pycore_object.h). */
static const char *const refinfo_names[] = {
    [MP_REFCNT_CLASSIC] = "classic",
    [MP_REFCNT_SPLIT] = "split",
    [MP_REFCNT_FLAGS] = "flags",
    [MP_REFCNT_FREE_THREADED] = "free-threaded",
    [MP_REFCNT_FREE_THREADED + 1] = "shared",
    [MP_REFCNT_FREE_THREADED + 2] = "maybe-weakref",
    [MP_REFCNT_FREE_THREADED + 3] = "queued",
    [MP_REFCNT_FREE_THREADED + 4] = "merged",
};
#define MP_REFINFO_NAMES (sizeof(refinfo_names) / sizeof(refinfo_names[0]))

/* An int, or None when the layout has no such field. */
static PyObject *
optional_int(int present, long long value)
{
    return present ? PyLong_FromLongLong(value) : Py_NewRef(Py_None);
}

/* memprobe.RefInfo from one view, its fields in its order. */
static PyObject *
refinfo_of(mp_state *st, const mp_refcnt_view *v)
{
    int ft = v->layout == MP_REFCNT_FREE_THREADED;
    int split = v->layout == MP_REFCNT_SPLIT || v->layout == MP_REFCNT_FLAGS;
    int flags = v->layout == MP_REFCNT_FLAGS || (ft && MP_HAVE_OB_FLAGS);
    size_t state = MP_REFCNT_FREE_THREADED + 1
                   + (size_t)(v->shared_raw & MP_REF_SHARED_FLAG_MASK);
    PyObject *items[] = {
        PyLong_FromSsize_t(v->count),
        PyLong_FromSsize_t(v->effective),
        PyBool_FromLong(v->immortal),
        PyBool_FromLong(v->static_immortal),
        Py_NewRef(PyTuple_GET_ITEM(st->refinfo_names, v->layout)),
        optional_int(!ft, v->word),
        optional_int(split, v->low),
        optional_int(v->layout == MP_REFCNT_SPLIT, v->high),
        optional_int(v->layout == MP_REFCNT_FLAGS, v->overflow),
        optional_int(flags, v->flags),
        optional_int(ft, v->local),
        optional_int(ft, Py_ARITHMETIC_RIGHT_SHIFT(Py_ssize_t, v->shared_raw,
                                                   MP_REF_SHARED_SHIFT)),
        Py_NewRef(ft ? PyTuple_GET_ITEM(st->refinfo_names, state) : Py_None),
        optional_int(ft, (long long)v->tid),
        ft ? PyBool_FromLong(v->deferred) : Py_NewRef(Py_None),
        optional_int(ft, (long long)v->deferred_bias),
    };
    /* RefInfo is a NamedTuple: made as tuple.__new__ makes a subclass's
     * instance, without running Python code. */
    return mp_tuple_of((PyTypeObject *)st->refinfo_type, items,
                       (Py_ssize_t)(sizeof(items) / sizeof(items[0])));
}

static PyObject *
refinfo(PyObject *module, PyObject *obj)
{
    mp_refcnt_view v;
    mp_read_refcnt(obj, &v);
    mp_state *st = mp_probe_state(module, MP_PART_REFCOUNT);
    if (st == NULL) {
        return NULL;
    }
    if (st->refinfo_type == NULL) {
        PyErr_SetString(st->error, "refinfo(): memprobe was not imported "
                        "through its package");
        return NULL;
    }
    return refinfo_of(st, &v);
}

/* _set_refinfo_type(cls): the class refinfo() builds, once, at import. */
static PyObject *
set_refinfo_type(PyObject *module, PyObject *cls)
{
    if (!PyType_Check(cls)
        || !PyType_IsSubtype((PyTypeObject *)cls, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "_set_refinfo_type takes a "
                        "NamedTuple class");
        return NULL;
    }
    mp_state *st = mp_module_state(module);
    if (st == NULL) {
        return NULL;
    }
    Py_XSETREF(st->refinfo_type, Py_NewRef(cls));
    Py_RETURN_NONE;
}

PyDoc_STRVAR(refcount_doc,
"refcount(obj, /)\n--\n\n"
"The value of obj's reference count field, read directly.\n\n"
"Called the same way it equals sys.getrefcount(obj): the count includes\n"
"the reference the caller's argument holds, when the caller holds one\n"
"(3.14+ often passes a borrowed reference instead).");

PyDoc_STRVAR(refinfo_doc,
"refinfo(obj, /)\n--\n\n"
"The reference count field of obj decoded for this interpreter, as a\n"
"memprobe.RefInfo; its count equals sys.getrefcount(obj) called the same\n"
"way.");

static PyMethodDef refcount_methods[] = {
    {"refcount", refcount, METH_O, refcount_doc},
    {"refinfo", refinfo, METH_O, refinfo_doc},
    {"_set_refinfo_type", set_refinfo_type, METH_O,
     "_set_refinfo_type(cls, /)\n--\n\n"
     "The class refinfo() builds its result with (memprobe.RefInfo)."},
    {NULL, NULL, 0, NULL}
};

int
mp_init_refcount(PyObject *module, mp_state *st)
{
    st->refinfo_names = PyTuple_New(MP_REFINFO_NAMES);
    for (size_t i = 0; st->refinfo_names && i < MP_REFINFO_NAMES; i++) {
        PyObject *name = PyUnicode_InternFromString(refinfo_names[i]);
        if (name == NULL) {
            return -1;
        }
        PyTuple_SET_ITEM(st->refinfo_names, (Py_ssize_t)i, name);
    }
    if (st->refinfo_names == NULL) {
        return -1;
    }
    return PyModule_AddFunctions(module, refcount_methods);
}
