/* _memprobe: memory facts read straight out of the running CPython.
 *
 * This file holds the method table and module init.  Each subject is one
 * file in _memprobe/ (refcount.c, gc.c, pymalloc.c, interpreter.c,
 * layout.c); every difference
 * between CPython versions is isolated in _memprobe/compat.h.
 */
#include "_memprobe/parts.h"

mp_state *
mp_get_state(PyObject *module)
{
    return (mp_state *)PyModule_GetState(module);
}

static const char *result_type_names[MP_TYPE_COUNT] = {
    [MP_TYPE_REFINFO] = "RefInfo",
    [MP_TYPE_GENERATION] = "Generation",
    [MP_TYPE_GCINFO] = "GCInfo",
    [MP_TYPE_GENERATION_STATE] = "GenerationState",
    [MP_TYPE_GC_STATE] = "GCState",
    [MP_TYPE_CENSUS] = "Census",
};

PyObject *
mp_build_result(mp_state *st, int which, PyObject *kw)
{
    if (kw == NULL) {
        return NULL;
    }
    PyObject *empty = PyTuple_New(0);
    PyObject *result = empty ? PyObject_Call(st->types[which], empty, kw) : NULL;
    Py_XDECREF(empty);
    Py_DECREF(kw);
    return result;
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
"memprobe.RefInfo.");

static PyMethodDef memprobe_methods[] = {
    {"refcount", mp_refcount, METH_O, refcount_doc},
    {"refinfo", mp_refinfo, METH_O, refinfo_doc},
    {"generation", mp_generation, METH_O,
     "generation(obj, /)\n--\n\nWhere obj is in the cyclic collector now, "
     "as a memprobe.Generation."},
    {"gcinfo", mp_gcinfo, METH_O,
     "gcinfo(obj, /)\n--\n\nobj's collector facts, as a memprobe.GCInfo."},
    {"generations", mp_generations, METH_O,
     "generations(objs, /)\n--\n\nThe Generation of each object, in one "
     "pass over the collector's lists."},
    {"gc_state", mp_gc_state_probe, METH_NOARGS,
     "gc_state()\n--\n\nOne snapshot of the collector, as a "
     "memprobe.GCState."},
    {"census", (PyCFunction)(void (*)(void))mp_census,
     METH_FASTCALL | METH_KEYWORDS,
     "census(generation=None, top=None)\n--\n\nTracked objects per type "
     "and per generation, counted in C without listing them."},
    {"_mimalloc_gather", mp_mimalloc_gather, METH_NOARGS,
     "_mimalloc_gather(): raw numbers behind mimalloc()."},
    {"_pymalloc_gather", mp_pymalloc_gather, METH_O,
     "_pymalloc_gather(with_arenas): raw numbers behind pymalloc()/arenas()."},
    {"_pymalloc_gather_with_report", mp_pymalloc_gather_with_report,
     METH_NOARGS,
     "Test helper: (raw snapshot, _debugmallocstats text, "
     "getallocatedblocks) read back to back."},
    {"_block_info", mp_block_info, METH_O,
     "_block_info(obj): raw facts behind block_info()."},
    {"_interpreter_facts", mp_interpreter_facts, METH_NOARGS,
     "Raw facts behind memprobe.interpreter()."},
    {"_gc_regime_for", mp_gc_regime_name, METH_VARARGS,
     "_gc_regime_for(hexversion, free_threaded): the GC regime name."},
    {"_version_problem", mp_version_problem, METH_VARARGS,
     "_version_problem(compiled, runtime): why the versions mismatch, or None."},
    {"_layout_problems", mp_layout_problems, METH_NOARGS,
     "The import-time layout checks that failed: {part: reason}."},
    {"_set_layout_problem", mp_set_layout_problem, METH_VARARGS,
     "Test hook: mark a part as failed (a str reason) or passed (None)."},
    {NULL, NULL, 0, NULL}
};

static int
read_runtime_hexversion(mp_state *st)
{
    PyObject *hexversion = PySys_GetObject("hexversion");  /* borrowed */
    unsigned long sys_hexversion = 0;
    if (hexversion != NULL) {
        sys_hexversion = PyLong_AsUnsignedLong(hexversion);
        if (PyErr_Occurred()) {
            return -1;
        }
    }
    st->runtime_hexversion = mp_runtime_hexversion(sys_hexversion);
    return 0;
}

static int
memprobe_exec(PyObject *module)
{
    mp_state *st = mp_get_state(module);

    st->error = PyErr_NewExceptionWithDoc(
        "memprobe.MemprobeError",
        "Base class of every error memprobe raises.", NULL, NULL);
    if (st->error == NULL || PyModule_AddObjectRef(module, "MemprobeError",
                                                   st->error) < 0) {
        return -1;
    }
    st->unsupported = PyErr_NewExceptionWithDoc(
        "memprobe.UnsupportedInterpreter",
        "The running interpreter's layout cannot be read safely by this "
        "build of memprobe.", st->error, NULL);
    if (st->unsupported == NULL
        || PyModule_AddObjectRef(module, "UnsupportedInterpreter",
                                 st->unsupported) < 0) {
        return -1;
    }
    st->no_pymalloc = PyErr_NewExceptionWithDoc(
        "memprobe.PymallocUnavailable",
        "pymalloc is not serving allocations (PYTHONMALLOC=malloc, "
        "mimalloc, a free-threaded build), or its statistics are hidden.",
        st->error, NULL);
    if (st->no_pymalloc == NULL
        || PyModule_AddObjectRef(module, "PymallocUnavailable",
                                 st->no_pymalloc) < 0) {
        return -1;
    }
    st->no_mimalloc = PyErr_NewExceptionWithDoc(
        "memprobe.MimallocUnavailable",
        "mimalloc is not serving allocations (another allocator, hooks such "
        "as tracemalloc, or CPython before 3.13).",
        st->error, NULL);
    if (st->no_mimalloc == NULL
        || PyModule_AddObjectRef(module, "MimallocUnavailable",
                                 st->no_mimalloc) < 0) {
        return -1;
    }
    st->layout_problems = PyDict_New();
    if (st->layout_problems == NULL) {
        return -1;
    }
    PyObject *types = PyImport_ImportModule("memprobe._types");
    if (types == NULL) {
        return -1;
    }
    for (int i = 0; i < MP_TYPE_COUNT; i++) {
        st->types[i] = PyObject_GetAttrString(types, result_type_names[i]);
        if (st->types[i] == NULL) {
            Py_DECREF(types);
            return -1;
        }
    }
    Py_DECREF(types);
    /* Answers hand out the enum's own members: looked up once here. */
    st->generation_members = PyDict_New();
    PyObject *members = st->generation_members
        ? PyObject_GetIter(st->types[MP_TYPE_GENERATION]) : NULL;
    if (members == NULL) {
        return -1;
    }
    PyObject *member;
    while ((member = PyIter_Next(members)) != NULL) {
        PyObject *value = PyObject_GetAttrString(member, "value");
        int rc = value ? PyDict_SetItem(st->generation_members, value, member)
                       : -1;
        Py_XDECREF(value);
        Py_DECREF(member);
        if (rc < 0) {
            Py_DECREF(members);
            return -1;
        }
    }
    Py_DECREF(members);
    if (PyErr_Occurred()) {
        return -1;
    }
    if (read_runtime_hexversion(st) < 0) {
        return -1;
    }
    if (PyModule_AddIntConstant(module, "COMPILED_HEXVERSION",
                                (long)PY_VERSION_HEX) < 0) {
        return -1;
    }
    return mp_validate_layout(module, st);
}

static int
memprobe_traverse(PyObject *module, visitproc visit, void *arg)
{
    mp_state *st = mp_get_state(module);
    Py_VISIT(st->error);
    Py_VISIT(st->unsupported);
    Py_VISIT(st->no_pymalloc);
    Py_VISIT(st->no_mimalloc);
    Py_VISIT(st->layout_problems);
    Py_VISIT(st->generation_members);
    for (int i = 0; i < MP_TYPE_COUNT; i++) {
        Py_VISIT(st->types[i]);
    }
    return 0;
}

static int
memprobe_clear(PyObject *module)
{
    mp_state *st = mp_get_state(module);
    Py_CLEAR(st->error);
    Py_CLEAR(st->unsupported);
    Py_CLEAR(st->no_pymalloc);
    Py_CLEAR(st->no_mimalloc);
    Py_CLEAR(st->layout_problems);
    Py_CLEAR(st->generation_members);
    for (int i = 0; i < MP_TYPE_COUNT; i++) {
        Py_CLEAR(st->types[i]);
    }
    return 0;
}

static void
memprobe_free(void *module)
{
    memprobe_clear((PyObject *)module);
}

static PyModuleDef_Slot memprobe_slots[] = {
    {Py_mod_exec, memprobe_exec},
#if PY_VERSION_HEX >= 0x030C0000
    /* All state is per module object; nothing is shared between
     * interpreters, and each probe reads only the calling interpreter. */
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#if PY_VERSION_HEX >= 0x030D0000
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
    .m_methods = memprobe_methods,
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
