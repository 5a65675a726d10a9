/* interpreter.c: facts about the running interpreter.
 *
 * Reads the allocator's name (_PyMem_GetCurrentAllocatorName, every
 * version), pymalloc's compiled constants (compat.h) and the build flags
 * this extension was compiled with; the GC regime is decided from the
 * runtime version (compat.h).  memprobe/_interpreter.py builds
 * memprobe.Interpreter from these.
 */
#include "parts.h"

void
mp_current_allocator(mp_allocator *a)
{
    const char *name = mp_allocator_name();
    a->name = name;
    if (name == NULL) {
        /* Hooks (tracemalloc, a PyMem_SetAllocator user) hide the name.
         * Free-threaded builds can only run mimalloc underneath.  Elsewhere
         * the block of sys.modules, allocated through PyObject_Malloc by
         * whatever the hooks wrap, tells (3.12+). */
        mp_block_location where;
        int found = MP_FREE_THREADED
            ? -1 : mp_pymalloc_block_of(PyImport_GetModuleDict(), &where);
        a->family = MP_FREE_THREADED ? MP_ALLOC_MIMALLOC
                    : found == 1 ? MP_ALLOC_PYMALLOC
                    : found == 0 ? MP_ALLOC_OTHER : MP_ALLOC_UNKNOWN;
        a->debug = found == 1 ? where.debug_padding > 0 : MP_DEBUG_BUILD;
        return;
    }
    a->family = strncmp(name, "pymalloc", 8) == 0 ? MP_ALLOC_PYMALLOC
                : strncmp(name, "mimalloc", 8) == 0 ? MP_ALLOC_MIMALLOC
                : MP_ALLOC_MALLOC;
    size_t length = strlen(name);
    a->debug = length > 6 && strcmp(name + length - 6, "_debug") == 0;
}

mp_gc_regime
mp_gc_regime_for(unsigned long hexversion, int free_threaded)
{
    unsigned long minor = (hexversion >> 16) & 0xFF;
    unsigned long micro = (hexversion >> 8) & 0xFF;
    if (free_threaded) {
        return MP_GC_FREE_THREADED;
    }
    if ((hexversion >> 24) == 3 && minor == 14 && micro <= 4) {
        return MP_GC_INCREMENTAL;
    }
    return MP_GC_GENERATIONAL;
}

const char *
mp_gc_regime_name(mp_gc_regime regime)
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
mp_gc_regime_for_version(PyObject *module, PyObject *args)
{
    unsigned long hexversion;
    int free_threaded;
    if (!PyArg_ParseTuple(args, "kp:_gc_regime_for", &hexversion,
                          &free_threaded)) {
        return NULL;
    }
    return PyUnicode_FromString(
        mp_gc_regime_name(mp_gc_regime_for(hexversion, free_threaded)));
}

/* _allocator() -> (name or None when hooked, family or None, debug). */
static PyObject *
allocator(PyObject *module, PyObject *unused)
{
    static const char *families[] = {
        [MP_ALLOC_PYMALLOC] = "pymalloc",
        [MP_ALLOC_MALLOC] = "malloc",
        [MP_ALLOC_MIMALLOC] = "mimalloc",
        [MP_ALLOC_OTHER] = "other",
    };
    mp_allocator a;
    mp_current_allocator(&a);
    return Py_BuildValue("(zzO)", a.name,
                         a.family == MP_ALLOC_UNKNOWN ? NULL : families[a.family],
                         a.debug ? Py_True : Py_False);
}

/* _interpreter_facts() -> (compiled_hexversion, runtime_hexversion,
 * debug_build, free_threaded, gc_regime, pymalloc, pymalloc_state), where
 * pymalloc is None or the fields of memprobe.PymallocConstants in order,
 * and pymalloc_state tells whether _pymalloc_state() can read pymalloc's
 * state (3.12+) rather than its printed report. */
static PyObject *
interpreter_facts(PyObject *module, PyObject *unused)
{
    mp_state *st = mp_module_state(module);
    if (st == NULL) {
        return NULL;
    }
    mp_pymalloc_constants c;
    mp_pymalloc_constants_get(&c);
    PyObject *pymalloc = c.compiled_in
        ? Py_BuildValue("(llllllO)", c.arena_size, c.pool_size, c.alignment,
                        c.small_request_threshold, c.size_classes,
                        c.pool_overhead,
                        st->pymalloc_constants_verified ? Py_True : Py_False)
        : Py_NewRef(Py_None);
    if (pymalloc == NULL) {
        return NULL;
    }
    mp_gc_regime regime = mp_gc_regime_for(st->runtime_hexversion,
                                           MP_FREE_THREADED);
    return Py_BuildValue("(kkOOsNO)", MP_COMPILED_HEXVERSION,
                         st->runtime_hexversion,
                         MP_DEBUG_BUILD ? Py_True : Py_False,
                         MP_FREE_THREADED ? Py_True : Py_False,
                         mp_gc_regime_name(regime), pymalloc,
                         MP_HAVE_OBMALLOC_STATE ? Py_True : Py_False);
}

/* _code_caches_frame(code) -> True/False, or None from 3.11. */
static PyObject *
code_caches_frame(PyObject *module, PyObject *code)
{
    (void)module;
    if (!PyCode_Check(code)) {
        PyErr_SetString(PyExc_TypeError, "_code_caches_frame takes a code object");
        return NULL;
    }
    int cached = mp_code_caches_frame((PyCodeObject *)code);
    return cached < 0 ? Py_NewRef(Py_None) : PyBool_FromLong(cached);
}

static PyMethodDef interpreter_methods[] = {
    {"_code_caches_frame", code_caches_frame, METH_O,
     "_code_caches_frame(code, /)\n--\n\n"
     "Whether code holds the frame its first call cached (before 3.11; None "
     "after)."},
    {"_allocator", allocator, METH_NOARGS,
     "_allocator()\n--\n\n"
     "The allocator now: (name or None when hooked, family or None, debug)."},
    {"_interpreter_facts", interpreter_facts, METH_NOARGS,
     "_interpreter_facts()\n--\n\nThe facts behind memprobe.interpreter()."},
    {NULL, NULL, 0, NULL}
};

int
mp_init_interpreter(PyObject *module, mp_state *st)
{
    (void)st;
    return PyModule_AddFunctions(module, interpreter_methods);
}
