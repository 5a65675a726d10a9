/* refcount.c: the reference count field of one object.
 *
 * Reads PyObject's header through mp_read_refcnt (compat.h), which knows the
 * layout of every version: ob_refcnt (3.9-3.11), the split union (3.12,
 * 3.13), {ob_refcnt, ob_overflow, ob_flags} (3.14+) and the local/shared pair
 * of free-threaded builds.  The whole view is copied out before any Python
 * object is created, so building the result cannot change what was read.
 */
#include "parts.h"

PyObject *
mp_refcount(PyObject *module, PyObject *obj)
{
    mp_refcnt_view view;
    mp_read_refcnt(obj, &view);
    if (mp_require(mp_get_state(module), MP_PART_REFCOUNT) < 0) {
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

static int
set_item(PyObject *dict, const char *key, PyObject *value)
{
    if (value == NULL) {
        return -1;
    }
    int rc = PyDict_SetItemString(dict, key, value);
    Py_DECREF(value);
    return rc;
}

static PyObject *
optional_int(int present, long long value)
{
    if (!present) {
        Py_RETURN_NONE;
    }
    return PyLong_FromLongLong(value);
}

PyObject *
mp_refinfo(PyObject *module, PyObject *obj)
{
    mp_refcnt_view v;
    mp_read_refcnt(obj, &v);
    mp_state *st = mp_get_state(module);
    if (mp_require(st, MP_PART_REFCOUNT) < 0) {
        return NULL;
    }

    int split = v.layout == MP_REFCNT_SPLIT || v.layout == MP_REFCNT_FLAGS;
    int flags = v.layout == MP_REFCNT_FLAGS
                || (v.layout == MP_REFCNT_FREE_THREADED
                    && st->runtime_hexversion >= 0x030E0000);
    int ft = v.layout == MP_REFCNT_FREE_THREADED;

    PyObject *kw = PyDict_New();
    if (kw == NULL) {
        return NULL;
    }
    if (set_item(kw, "count", PyLong_FromSsize_t(v.count)) < 0
        || set_item(kw, "effective", PyLong_FromSsize_t(v.effective)) < 0
        || set_item(kw, "immortal", PyBool_FromLong(v.immortal)) < 0
        || set_item(kw, "static_immortal",
                    PyBool_FromLong(v.static_immortal)) < 0
        || set_item(kw, "layout", PyUnicode_FromString(layout_name(v.layout))) < 0
        || set_item(kw, "word", optional_int(!ft, v.word)) < 0
        || set_item(kw, "low", optional_int(split, v.low)) < 0
        || set_item(kw, "high",
                    optional_int(v.layout == MP_REFCNT_SPLIT, v.high)) < 0
        || set_item(kw, "overflow",
                    optional_int(v.layout == MP_REFCNT_FLAGS, v.overflow)) < 0
        || set_item(kw, "flags", optional_int(flags, v.flags)) < 0
        || set_item(kw, "local", optional_int(ft, v.local)) < 0
        || set_item(kw, "shared",
                    optional_int(ft, Py_ARITHMETIC_RIGHT_SHIFT(
                        Py_ssize_t, v.shared_raw, MP_REF_SHARED_SHIFT))) < 0
        || set_item(kw, "shared_state",
                    ft ? PyUnicode_FromString(shared_state_name(v.shared_raw))
                       : Py_NewRef(Py_None)) < 0
        || set_item(kw, "owner_tid", optional_int(ft, (long long)v.tid)) < 0
        || set_item(kw, "deferred",
                    ft ? PyBool_FromLong(v.deferred) : Py_NewRef(Py_None)) < 0
        || set_item(kw, "deferred_bias",
                    optional_int(ft, (long long)v.deferred_bias)) < 0)
    {
        Py_DECREF(kw);
        return NULL;
    }
    return mp_build_result(st, MP_TYPE_REFINFO, kw);
}
