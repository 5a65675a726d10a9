/* layout.c: checks, run once at import, that the interpreter we were loaded
 * into has the layout this extension was compiled for.
 *
 * Nothing from a header is trusted blindly.  Each check compares a value read
 * directly from interpreter memory with what sys/gc report, or a compiled
 * constant with what the interpreter publishes about itself:
 *   version   compiled major.minor vs the runtime's (Py_Version/sys.hexversion)
 *   offsets   _PyRuntime.debug_offsets (3.13+) vs compiled offsetof()s
 *   refcount  the field read directly vs sys.getrefcount, before and after
 *             one more reference; immortality vs sys._is_immortal (3.14+)
 *   gc        thresholds and the enabled flag read from PyInterpreterState.gc
 *             vs gc.get_threshold() and gc.isenabled()
 *   pymalloc  compiled constants vs _PyObject_DebugMallocStats' own report
 * A failure is recorded in the module state's layout_problems dict; probes
 * needing that part then raise UnsupportedInterpreter.  Import never fails
 * because of a layout check.
 */
#include "parts.h"

#ifdef MS_WINDOWS
#  include <io.h>
#endif

static int
add_problem(mp_state *st, const char *part, const char *why)
{
    PyObject *msg = PyUnicode_FromString(why);
    if (msg == NULL) {
        return -1;
    }
    int rc = PyDict_SetItemString(st->layout_problems, part, msg);
    Py_DECREF(msg);
    return rc;
}

const char *
mp_version_text(mp_state *st)
{
    unsigned long v = st->runtime_hexversion;
    if (st->version_text[0] == '\0') {
        snprintf(st->version_text, sizeof(st->version_text), "%lu.%lu.%lu",
                 v >> 24, (v >> 16) & 0xFF, (v >> 8) & 0xFF);
    }
    return st->version_text;
}

int
mp_require(mp_state *st, const char *part)
{
    if (PyDict_GET_SIZE(st->layout_problems) == 0) {
        return 0;
    }
    PyObject *why = PyDict_GetItemString(st->layout_problems, MP_PART_VERSION);
    if (why == NULL) {
        why = PyDict_GetItemString(st->layout_problems, part);
    }
    if (why == NULL) {
        return 0;
    }
    PyErr_Format(st->unsupported,
                 "memprobe cannot read %s on CPython %s: %U",
                 part, mp_version_text(st), why);
    return -1;
}

/* Returns a new string describing why a module compiled for `compiled`
 * cannot read an interpreter of version `runtime`, or None. */
static PyObject *
version_problem(unsigned long compiled, unsigned long runtime)
{
    if ((compiled >> 16) != (runtime >> 16)) {
        return PyUnicode_FromFormat(
            "compiled for CPython %lu.%lu but running on %lu.%lu",
            compiled >> 24, (compiled >> 16) & 0xFF,
            runtime >> 24, (runtime >> 16) & 0xFF);
    }
    Py_RETURN_NONE;
}

PyObject *
mp_version_problem(PyObject *module, PyObject *args)
{
    unsigned long compiled, runtime;
    if (!PyArg_ParseTuple(args, "kk:_version_problem", &compiled, &runtime)) {
        return NULL;
    }
    return version_problem(compiled, runtime);
}

/* Test hook: pretend a part failed (or, with None, passed) its check. */
PyObject *
mp_set_layout_problem(PyObject *module, PyObject *args)
{
    const char *part;
    PyObject *why;
    if (!PyArg_ParseTuple(args, "sO:_set_layout_problem", &part, &why)) {
        return NULL;
    }
    mp_state *st = mp_get_state(module);
    if (why == Py_None) {
        if (PyDict_DelItemString(st->layout_problems, part) < 0) {
            PyErr_Clear();
        }
        Py_RETURN_NONE;
    }
    if (!PyUnicode_Check(why)) {
        PyErr_SetString(PyExc_TypeError, "why must be a str or None");
        return NULL;
    }
    if (PyDict_SetItemString(st->layout_problems, part, why) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyObject *
mp_layout_problems(PyObject *module, PyObject *unused)
{
    return PyDict_Copy(mp_get_state(module)->layout_problems);
}

static PyObject *
call_module(const char *module_name, const char *func, PyObject *arg)
{
    PyObject *mod = PyImport_ImportModule(module_name);
    if (mod == NULL) {
        return NULL;
    }
    PyObject *callable = PyObject_GetAttrString(mod, func);
    Py_DECREF(mod);
    if (callable == NULL) {
        return NULL;
    }
    PyObject *res = arg ? PyObject_CallOneArg(callable, arg)
                        : PyObject_CallNoArgs(callable);
    Py_DECREF(callable);
    return res;
}

/* Calls sys.getrefcount(obj) from C: the vectorcall passes obj borrowed, so
 * the answer is the field exactly as it is now. */
static int
refcount_matches_sys(PyObject *obj, char *why, size_t why_size)
{
    mp_refcnt_view v;
    PyObject *res = call_module("sys", "getrefcount", obj);
    if (res == NULL) {
        return -1;
    }
    Py_ssize_t expected = PyLong_AsSsize_t(res);
    Py_DECREF(res);
    if (expected == -1 && PyErr_Occurred()) {
        return -1;
    }
    mp_read_refcnt(obj, &v);
    if (v.count != expected) {
        snprintf(why, why_size,
                 "reference count field reads %zd, sys.getrefcount says %zd",
                 v.count, expected);
        return 0;
    }
    return 1;
}

static int
check_refcount(mp_state *st)
{
    char why[200] = "";
    int ok;
    PyObject *probe = PyList_New(0);
    if (probe == NULL) {
        return -1;
    }
    ok = refcount_matches_sys(probe, why, sizeof(why));
    if (ok == 1) {
        /* One more reference must show as exactly one more. */
        mp_refcnt_view before, after;
        mp_read_refcnt(probe, &before);
        Py_INCREF(probe);
        mp_read_refcnt(probe, &after);
        Py_DECREF(probe);
        if (after.count != before.count + 1 || before.immortal) {
            snprintf(why, sizeof(why),
                     "one more reference moved the field from %zd to %zd",
                     before.count, after.count);
            ok = 0;
        }
    }
    if (ok == 1) {
        ok = refcount_matches_sys(Py_None, why, sizeof(why));
    }
#if PY_VERSION_HEX >= 0x030C0000
    if (ok == 1) {
        mp_refcnt_view none;
        mp_read_refcnt(Py_None, &none);
        if (!none.immortal) {
            snprintf(why, sizeof(why), "None does not read as immortal");
            ok = 0;
        }
    }
#endif
#if PY_VERSION_HEX >= 0x030E0000
    /* sys._is_immortal is the interpreter's own verdict. */
    PyObject *samples[2] = {probe, Py_None};
    for (int i = 0; ok == 1 && i < 2; i++) {
        mp_refcnt_view v;
        PyObject *res = call_module("sys", "_is_immortal", samples[i]);
        if (res == NULL) {
            ok = -1;
            break;
        }
        mp_read_refcnt(samples[i], &v);
        int expected = PyObject_IsTrue(res);
        Py_DECREF(res);
        if (expected != v.immortal) {
            snprintf(why, sizeof(why),
                     "immortality reads %d where sys._is_immortal says %d",
                     v.immortal, expected);
            ok = 0;
        }
    }
#endif
    Py_DECREF(probe);
    if (ok < 0) {
        return -1;
    }
    return ok ? 0 : add_problem(st, MP_PART_REFCOUNT, why);
}

static int
check_gc(mp_state *st)
{
    char why[200] = "";
    PyInterpreterState *interp = PyInterpreterState_Get();
    PyObject *thresholds = call_module("gc", "get_threshold", NULL);
    if (thresholds == NULL) {
        return -1;
    }
    if (!PyTuple_Check(thresholds) || PyTuple_GET_SIZE(thresholds) < 3) {
        Py_DECREF(thresholds);
        return add_problem(st, MP_PART_GC,
                           "gc.get_threshold() is not a 3-tuple");
    }
    for (int i = 0; i < MP_NUM_GENERATIONS && why[0] == '\0'; i++) {
        long expected = PyLong_AsLong(PyTuple_GET_ITEM(thresholds, i));
        if (expected == -1 && PyErr_Occurred()) {
            Py_DECREF(thresholds);
            return -1;
        }
        int direct = mp_gc_threshold(interp, i);
        if (direct != expected) {
            snprintf(why, sizeof(why),
                     "threshold %d reads %d, gc.get_threshold() says %ld",
                     i, direct, expected);
        }
    }
    Py_DECREF(thresholds);
    if (why[0] == '\0') {
        PyObject *enabled = call_module("gc", "isenabled", NULL);
        if (enabled == NULL) {
            return -1;
        }
        int expected = PyObject_IsTrue(enabled);
        Py_DECREF(enabled);
        if (expected != (mp_gc_state(interp)->enabled != 0)) {
            snprintf(why, sizeof(why),
                     "enabled flag reads %d, gc.isenabled() says %d",
                     mp_gc_state(interp)->enabled, expected);
        }
    }
    return why[0] ? add_problem(st, MP_PART_GC, why) : 0;
}

char *
mp_capture_malloc_stats(size_t *length)
{
    char *buffer = NULL;
#ifdef MS_WINDOWS
    FILE *out = tmpfile();
    if (out == NULL) {
        PyErr_SetFromErrno(PyExc_OSError);
        return NULL;
    }
    mp_debug_malloc_stats(out);
    long size = ftell(out);
    buffer = size >= 0 ? (char *)malloc((size_t)size + 1) : NULL;
    if (buffer != NULL) {
        rewind(out);
        *length = fread(buffer, 1, (size_t)size, out);
        buffer[*length] = '\0';
    }
    fclose(out);
#else
    size_t size = 0;
    FILE *out = open_memstream(&buffer, &size);
    if (out == NULL) {
        PyErr_SetFromErrno(PyExc_OSError);
        return NULL;
    }
    mp_debug_malloc_stats(out);
    if (fclose(out) != 0) {
        free(buffer);
        PyErr_SetFromErrno(PyExc_OSError);
        return NULL;
    }
    *length = size;
#endif
    if (buffer == NULL) {
        PyErr_NoMemory();
    }
    return buffer;
}

/* Finds "<count> <unit>s * <bytes> bytes..." and returns bytes, or -1. */
static long
per_unit_bytes(const char *text, const char *label)
{
    const char *at = strstr(text, label);
    long bytes;
    if (at == NULL || sscanf(at + strlen(label), "%ld", &bytes) != 1) {
        return -1;
    }
    return bytes;
}

static int
check_pymalloc(mp_state *st)
{
    mp_pymalloc_constants c;
    mp_pymalloc_constants_get(&c);
    if (!c.compiled_in) {
        return 0;
    }
    /* Under mimalloc the report is mimalloc's own, with a "Small block
     * threshold" line of different meaning: nothing of pymalloc to check. */
    const char *allocator = mp_allocator_name();
    if (allocator != NULL && strncmp(allocator, "pymalloc", 8) != 0) {
        return 0;
    }
    size_t length = 0;
    char *text = mp_capture_malloc_stats(&length);
    if (text == NULL) {
        return -1;
    }
    /* Empty when pymalloc is not the allocator or hooks are installed: the
     * constants then stay unverified rather than wrong. */
    char why[200] = "";
    const char *line = strstr(text, "Small block threshold = ");
    if (line != NULL) {
        long threshold, classes;
        long arena = per_unit_bytes(text, " arenas * ");
        long pool = per_unit_bytes(text, " unused pools * ");
        if (sscanf(line, "Small block threshold = %ld, in %ld size classes",
                   &threshold, &classes) != 2) {
            snprintf(why, sizeof(why), "cannot parse '%.60s'", line);
        }
        else if (threshold != c.small_request_threshold
                 || classes != c.size_classes) {
            snprintf(why, sizeof(why),
                     "threshold %ld in %ld classes, compiled for %ld in %ld",
                     threshold, classes, c.small_request_threshold,
                     c.size_classes);
        }
        else if (arena != c.arena_size || pool != c.pool_size) {
            snprintf(why, sizeof(why),
                     "arenas of %ld bytes with pools of %ld, compiled for "
                     "%ld and %ld", arena, pool, c.arena_size, c.pool_size);
        }
        else {
            st->pymalloc_constants_verified = 1;
        }
    }
    free(text);
    return why[0] ? add_problem(st, MP_PART_PYMALLOC, why) : 0;
}

int
mp_validate_layout(PyObject *module, mp_state *st)
{
    char why[200];
    PyObject *version = version_problem(PY_VERSION_HEX,
                                        st->runtime_hexversion);
    if (version == NULL) {
        return -1;
    }
    if (version != Py_None) {
        /* Nothing else is safe to read. */
        int rc = PyDict_SetItemString(st->layout_problems, MP_PART_VERSION,
                                      version);
        Py_DECREF(version);
        return rc;
    }
    Py_DECREF(version);

    if (mp_check_debug_offsets(why, sizeof(why)) == 0) {
        /* The interpreter's own description of its structs disagrees with
         * ours: no struct we read can be trusted. */
        if (add_problem(st, MP_PART_REFCOUNT, why) < 0
            || add_problem(st, MP_PART_GC, why) < 0
            || add_problem(st, MP_PART_PYMALLOC, why) < 0
            || add_problem(st, MP_PART_MIMALLOC, why) < 0) {
            return -1;
        }
        return 0;
    }
    if (check_refcount(st) < 0 || check_gc(st) < 0 || check_pymalloc(st) < 0) {
        return -1;
    }
    if (mp_check_mimalloc_layout(why, sizeof(why)) == 0
        && add_problem(st, MP_PART_MIMALLOC, why) < 0) {
        return -1;
    }
    return 0;
}
