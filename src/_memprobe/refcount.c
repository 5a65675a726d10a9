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

static const char *
layout_name(mp_refcnt_layout layout)
{
    switch (layout) {
    case MP_REFCNT_CLASSIC:
        return "classic";
    case MP_REFCNT_SPLIT:
        return "split";
    case MP_REFCNT_FLAGS:
        return "flags";
    case MP_REFCNT_FREE_THREADED:
        return "free-threaded";
    }
    return "unknown";
}

static const char *
shared_state_name(Py_ssize_t shared_raw)
{
    /* Low bits of ob_ref_shared (Include/internal/pycore_object.h). */
    switch (shared_raw & MP_REF_SHARED_FLAG_MASK) {
    case 0:
        return "shared";
    case 1:
        return "maybe-weakref";
    case 2:
        return "queued";
    default:
        return "merged";
    }
}

/* An int, or None when the layout has no such field. */
static PyObject *
optional_int(int present, long long value)
{
    return present ? PyLong_FromLongLong(value) : Py_NewRef(Py_None);
}

static PyObject *
optional_bool(int present, int value)
{
    return present ? PyBool_FromLong(value) : Py_NewRef(Py_None);
}

/* The fields of memprobe.RefInfo, in its order, from one view. */
static PyObject *
refinfo_fields(const mp_refcnt_view *v)
{
    int ft = v->layout == MP_REFCNT_FREE_THREADED;
    int split = v->layout == MP_REFCNT_SPLIT || v->layout == MP_REFCNT_FLAGS;
    int flags = v->layout == MP_REFCNT_FLAGS || (ft && MP_HAVE_OB_FLAGS);
    PyObject *state = ft ? PyUnicode_FromString(shared_state_name(v->shared_raw))
                         : Py_NewRef(Py_None);
    if (state == NULL) {
        return NULL;
    }
    return Py_BuildValue(
        "(nnOOsNNNNNNNNNNN)",
        v->count, v->effective,
        v->immortal ? Py_True : Py_False,
        v->static_immortal ? Py_True : Py_False,
        layout_name(v->layout),
        optional_int(!ft, v->word),
        optional_int(split, v->low),
        optional_int(v->layout == MP_REFCNT_SPLIT, v->high),
        optional_int(v->layout == MP_REFCNT_FLAGS, v->overflow),
        optional_int(flags, v->flags),
        optional_int(ft, v->local),
        optional_int(ft, Py_ARITHMETIC_RIGHT_SHIFT(Py_ssize_t, v->shared_raw,
                                                   MP_REF_SHARED_SHIFT)),
        state,
        optional_int(ft, (long long)v->tid),
        optional_bool(ft, v->deferred),
        optional_int(ft, (long long)v->deferred_bias));
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
    /* RefInfo is a NamedTuple: made as tuple.__new__ makes a subclass's
     * instance, without running Python code. */
    PyObject *fields = refinfo_fields(&v);
    PyObject *args = fields ? PyTuple_Pack(1, fields) : NULL;
    PyObject *result = args ? PyTuple_Type.tp_new(
        (PyTypeObject *)st->refinfo_type, args, NULL) : NULL;
    Py_XDECREF(args);
    Py_XDECREF(fields);
    return result;
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
    (void)st;
    return PyModule_AddFunctions(module, refcount_methods);
}
