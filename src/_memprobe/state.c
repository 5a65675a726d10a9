/* state.c: the module's state, its exceptions, and which parts of the
 * interpreter passed their import-time checks.
 *
 * Reads sys.hexversion (before 3.11, where Py_Version does not exist) and
 * nothing else of the interpreter.  layout.c fills layout_problems at
 * import; every probe asks mp_probe_state before it reads anything.
 */
#include "parts.h"

mp_state *
mp_get_state(PyObject *module)
{
    return (mp_state *)PyModule_GetState(module);
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

/* Why `part` failed its check, or NULL (borrowed).  Compares keys in place:
 * PyDict_GetItemString hides the MemoryError of building its key. */
static PyObject *
problem_of(PyObject *problems, const char *part)
{
    Py_ssize_t pos = 0;
    PyObject *key, *why;
    while (PyDict_Next(problems, &pos, &key, &why)) {
        if (PyUnicode_Check(key)
            && PyUnicode_CompareWithASCIIString(key, part) == 0) {
            return why;
        }
    }
    return NULL;
}

mp_state *
mp_module_state(PyObject *module)
{
    mp_state *st = mp_get_state(module);
    if (st->layout_problems == NULL) {
        /* m_clear ran: the module is garbage (a second instance, or this
         * one at shutdown) and Python code running in the same collection
         * called one of its functions.  MemprobeError outlives m_clear. */
        PyErr_SetString(st->error ? st->error : PyExc_RuntimeError,
                        "this memprobe module object was cleared (it is being "
                        "destroyed) and can no longer answer");
        return NULL;
    }
    return st;
}

int
mp_check_part(mp_state *st, const char *part, mp_refusal *r)
{
    if (PyDict_GET_SIZE(st->layout_problems) == 0
        || (problem_of(st->layout_problems, MP_PART_VERSION) == NULL
            && problem_of(st->layout_problems, part) == NULL)) {
        return 1;
    }
    r->type = st->unsupported;
    r->part = part;
    r->why[0] = '\0';
    return 0;
}

int
mp_refuse(mp_refusal *r, PyObject *type, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(r->why, sizeof(r->why), format, args);
    va_end(args);
    r->type = type;
    r->part = NULL;
    return 0;
}

PyObject *
mp_refusal_text(mp_state *st, const mp_refusal *r)
{
    if (r->part == NULL) {
        return PyUnicode_FromString(r->why);
    }
    PyObject *why = problem_of(st->layout_problems, MP_PART_VERSION);
    if (why == NULL) {
        why = problem_of(st->layout_problems, r->part);
    }
    if (why == NULL) {
        return PyUnicode_FromFormat("memprobe cannot read %s on CPython %s",
                                    r->part, mp_version_text(st));
    }
    return PyUnicode_FromFormat("memprobe cannot read %s on CPython %s: %U",
                                r->part, mp_version_text(st), why);
}

PyObject *
mp_raise_refusal(mp_state *st, const mp_refusal *r)
{
    PyObject *text = mp_refusal_text(st, r);
    if (text != NULL) {
        PyErr_SetObject(r->type, text);
        Py_DECREF(text);
    }
    return NULL;
}

mp_state *
mp_probe_state(PyObject *module, const char *part)
{
    mp_state *st = mp_module_state(module);
    mp_refusal r;
    if (st == NULL) {
        return NULL;
    }
    if (!mp_check_part(st, part, &r)) {
        mp_raise_refusal(st, &r);
        return NULL;
    }
    return st;
}

int
mp_add_problem(mp_state *st, const char *part, const char *why)
{
    PyObject *msg = PyUnicode_FromString(why);
    if (msg == NULL) {
        return -1;
    }
    int rc = PyDict_SetItemString(st->layout_problems, part, msg);
    Py_DECREF(msg);
    return rc;
}

/* ---- Exceptions ------------------------------------------------------------ */

typedef struct {
    size_t offset;              /* of the slot in mp_state */
    const char *name;           /* module attribute, after "memprobe." */
    const char *doc;
    int derives_from_error;     /* else from Exception */
} error_spec;

static const error_spec errors[] = {
    {offsetof(mp_state, error), "MemprobeError",
     "Base class of every error memprobe raises.", 0},
    {offsetof(mp_state, unsupported), "UnsupportedInterpreter",
     "The running interpreter's layout cannot be read safely by this build "
     "of memprobe.", 1},
    {offsetof(mp_state, no_pymalloc), "PymallocUnavailable",
     "pymalloc is not serving allocations (PYTHONMALLOC=malloc, mimalloc, a "
     "free-threaded build), or its statistics are hidden.", 1},
    {offsetof(mp_state, no_mimalloc), "MimallocUnavailable",
     "mimalloc is not serving allocations (another allocator, hooks such as "
     "tracemalloc, or CPython before 3.13).", 1},
};

static int
add_errors(PyObject *module, mp_state *st)
{
    for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
        char qualified[64];
        snprintf(qualified, sizeof(qualified), "memprobe.%s", errors[i].name);
        PyObject **slot = (PyObject **)((char *)st + errors[i].offset);
        *slot = PyErr_NewExceptionWithDoc(
            qualified, errors[i].doc,
            errors[i].derives_from_error ? st->error : NULL, NULL);
        if (*slot == NULL
            || PyModule_AddObjectRef(module, errors[i].name, *slot) < 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- Entry points ------------------------------------------------------------ */

static PyObject *
layout_problems(PyObject *module, PyObject *unused)
{
    mp_state *st = mp_module_state(module);
    return st ? PyDict_Copy(st->layout_problems) : NULL;
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
    mp_state *st = mp_module_state(module);
    if (st == NULL) {
        return NULL;
    }
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

static PyMethodDef state_methods[] = {
    {"_layout_problems", layout_problems, METH_NOARGS,
     "_layout_problems()\n--\n\n"
     "The import-time layout checks that failed: {part: reason}."},
    {NULL, NULL, 0, NULL}
};

int
mp_init_state(PyObject *module, mp_state *st)
{
    if (add_errors(module, st) < 0) {
        return -1;
    }
    st->layout_problems = PyDict_New();
    if (st->layout_problems == NULL) {
        return -1;
    }
    /* PySys_GetObject hides its errors (MemoryError included). */
    PyObject *hexversion = PySys_GetObject("hexversion");  /* borrowed */
    if (hexversion == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_RuntimeError, "sys.hexversion is missing");
        }
        return -1;
    }
    unsigned long sys_hexversion = PyLong_AsUnsignedLong(hexversion);
    if (PyErr_Occurred()) {
        return -1;
    }
    st->runtime_hexversion = mp_runtime_hexversion(sys_hexversion);
    return PyModule_AddFunctions(module, state_methods);
}

int
mp_traverse_state(mp_state *st, visitproc visit, void *arg)
{
    Py_VISIT(st->error);
    Py_VISIT(st->unsupported);
    Py_VISIT(st->no_pymalloc);
    Py_VISIT(st->no_mimalloc);
    Py_VISIT(st->layout_problems);
    Py_VISIT(st->refinfo_type);
    Py_VISIT(st->refinfo_names);
    Py_VISIT(st->own_types);
    Py_VISIT(st->getallocatedblocks);
    Py_VISIT(st->maker_type);
    return 0;
}

/* Breaks reference cycles through the state.  MemprobeError stays until
 * mp_free_state, so that a function of a cleared module can still raise
 * it (mp_module_state). */
void
mp_clear_state(mp_state *st)
{
    Py_CLEAR(st->unsupported);
    Py_CLEAR(st->no_pymalloc);
    Py_CLEAR(st->no_mimalloc);
    Py_CLEAR(st->layout_problems);
    Py_CLEAR(st->refinfo_type);
    Py_CLEAR(st->refinfo_names);
    Py_CLEAR(st->own_types);
    Py_CLEAR(st->getallocatedblocks);
    Py_CLEAR(st->maker_type);
}

void
mp_free_state(mp_state *st)
{
    mp_clear_state(st);
    Py_CLEAR(st->error);
}
