/* interpreter.c: facts about the running interpreter.
 *
 * Reads the allocator's name (_PyMem_GetCurrentAllocatorName), pymalloc's
 * compiled constants and the build flags this extension was compiled with;
 * the GC regime is decided from the runtime version (compat.h).  The Python
 * wrapper turns the dict returned here into memprobe.Interpreter.
 */
#include "parts.h"

static const char *
regime_name(mp_gc_regime regime)
{
    switch (regime) {
    case MP_GC_GENERATIONAL:
        return "generational";
    case MP_GC_INCREMENTAL:
        return "incremental";
    case MP_GC_FREE_THREADED:
        return "free-threaded";
    }
    return "unknown";
}

/* _gc_regime_for(hexversion, free_threaded): the internal decision, exposed
 * so tests can cover 3.14 patch releases no registry carries. */
PyObject *
mp_gc_regime_name(PyObject *module, PyObject *args)
{
    unsigned long hexversion;
    int free_threaded;
    if (!PyArg_ParseTuple(args, "kp:_gc_regime_for", &hexversion,
                          &free_threaded)) {
        return NULL;
    }
    return PyUnicode_FromString(
        regime_name(mp_gc_regime_for(hexversion, free_threaded)));
}

PyObject *
mp_interpreter_facts(PyObject *module, PyObject *unused)
{
    mp_state *st = mp_get_state(module);
    mp_pymalloc_constants c;
    mp_pymalloc_constants_get(&c);
    const char *allocator = mp_allocator_name();
    mp_gc_regime regime = mp_gc_regime_for(st->runtime_hexversion,
                                           MP_FREE_THREADED);

    PyObject *pymalloc;
    if (c.compiled_in) {
        pymalloc = Py_BuildValue(
            "{sl sl sl sl sl sO}",
            "arena_size", c.arena_size,
            "pool_size", c.pool_size,
            "alignment", c.alignment,
            "small_request_threshold", c.small_request_threshold,
            "size_classes", c.size_classes,
            "verified", st->pymalloc_constants_verified ? Py_True : Py_False);
    }
    else {
        pymalloc = Py_NewRef(Py_None);
    }
    if (pymalloc == NULL) {
        return NULL;
    }
    PyObject *problems = PyDict_Copy(st->layout_problems);
    if (problems == NULL) {
        Py_DECREF(pymalloc);
        return NULL;
    }
    return Py_BuildValue(
        "{sk sk sO sO sz ss sN sN}",
        "compiled_hexversion", (unsigned long)PY_VERSION_HEX,
        "runtime_hexversion", st->runtime_hexversion,
        "debug_build", MP_DEBUG_BUILD ? Py_True : Py_False,
        "free_threaded", MP_FREE_THREADED ? Py_True : Py_False,
        "allocator", allocator,
        "gc_regime", regime_name(regime),
        "pymalloc", pymalloc,
        "layout_problems", problems);
}
