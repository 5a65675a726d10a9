/* _memprobe: memory facts read straight out of the running CPython.
 *
 * This file holds module init: the named steps below, run in order, and
 * the test-only entry points.  Each subject is one part in _memprobe/
 * (parts.h says what they share and the rule for what they return); every
 * difference between CPython versions is isolated in _memprobe/compat.h.
 */
#include "_memprobe/parts.h"

/* ---- Test-only entry points -------------------------------------------------
 * Not part of memprobe's API: hooks the tests use to reach decisions the
 * running interpreter cannot show them (other versions, failed checks), and
 * the benchmarks' floor. */
static PyMethodDef testing_methods[] = {
    {"_set_layout_problem", mp_set_layout_problem, METH_VARARGS,
     "Test hook: mark a part as failed (a str reason) or passed (None)."},
    {"_version_problem", mp_version_problem, METH_VARARGS,
     "_version_problem(compiled, runtime): why the versions mismatch, or None."},
    {"_gc_regime_for", mp_gc_regime_for_version, METH_VARARGS,
     "_gc_regime_for(hexversion, free_threaded): the GC regime name."},
    {"_pymalloc_with_report", mp_pymalloc_with_report, METH_NOARGS,
     "(_pymalloc_state(True) or None before 3.12, _malloc_stats_report()), "
     "read back to back before anything is built."},
    {"_fail_report_captures", mp_fail_report_captures, METH_O,
     "_fail_report_captures(n): the next n captures of the interpreter's "
     "allocator report fail with OSError."},
    {"_bare_walk", mp_bare_walk, METH_O,
     "_bare_walk(lists): objects in the lists of the set, counted by a bare "
     "walk (the benchmarks' floor)."},
    {NULL, NULL, 0, NULL}
};

static int
init_testing(PyObject *module, mp_state *st)
{
    (void)st;
    return PyModule_AddFunctions(module, testing_methods);
}

/* ---- Module init --------------------------------------------------------------- */

typedef struct {
    const char *name;
    int (*run)(PyObject *module, mp_state *st);
} init_step;

static const init_step init_steps[] = {
    {"state", mp_init_state},               /* exceptions, version */
    {"interpreter", mp_init_interpreter},
    {"maker", mp_init_maker},
    {"refcount", mp_init_refcount},
    {"gc", mp_init_gc},
    {"census", mp_init_census},
    {"pymalloc", mp_init_pymalloc},
    {"blocks", mp_init_blocks},
    {"mimalloc", mp_init_mimalloc},
    {"snapshot", mp_init_snapshot},
    {"native", mp_init_native},
    {"remote", mp_init_remote},
    {"testing", init_testing},
    {"layout", mp_init_layout},             /* last: checks every part */
};

static int
memprobe_exec(PyObject *module)
{
    mp_state *st = mp_get_state(module);
    for (size_t i = 0; i < sizeof(init_steps) / sizeof(init_steps[0]); i++) {
        if (init_steps[i].run(module, st) < 0) {
            if (!PyErr_Occurred()) {
                PyErr_Format(PyExc_SystemError,
                             "memprobe: init step '%s' failed",
                             init_steps[i].name);
            }
            return -1;
        }
    }
    return 0;
}

static int
memprobe_traverse(PyObject *module, visitproc visit, void *arg)
{
    return mp_traverse_state(mp_get_state(module), visit, arg);
}

static int
memprobe_clear(PyObject *module)
{
    mp_clear_state(mp_get_state(module));
    return 0;
}

static void
memprobe_free(void *module)
{
    mp_free_state(mp_get_state((PyObject *)module));
}

static PyModuleDef_Slot memprobe_slots[] = {
    {Py_mod_exec, memprobe_exec},
#ifdef Py_mod_multiple_interpreters
    /* All state is per module object; nothing is shared between
     * interpreters, and each probe reads only the calling interpreter. */
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#ifdef Py_mod_gil
    /* Probes keep no mutable shared state; reads of other threads' fields
     * use relaxed atomic loads on free-threaded builds. */
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL}
};

static struct PyModuleDef memprobe_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "memprobe._memprobe",
    .m_doc = "Memory facts read straight out of the running CPython.",
    .m_size = sizeof(mp_state),
    .m_slots = memprobe_slots,
    .m_traverse = memprobe_traverse,
    .m_clear = memprobe_clear,
    .m_free = memprobe_free,
};

PyMODINIT_FUNC
PyInit__memprobe(void)
{
    return PyModuleDef_Init(&memprobe_module);
}
