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
 *   mimalloc  blocks of known sizes allocated now sit in pages whose
 *             geometry adds up and whose heap is the calling thread's
 * A failure is recorded in the module state's layout_problems dict; probes
 * needing that part then raise UnsupportedInterpreter.  Import never fails
 * because of a layout check.
 */
#include "parts.h"
#include "mimalloc.h"

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
#if MP_HAVE_IMMORTAL
    if (ok == 1) {
        mp_refcnt_view none;
        mp_read_refcnt(Py_None, &none);
        if (!none.immortal) {
            snprintf(why, sizeof(why), "None does not read as immortal");
            ok = 0;
        }
    }
#endif
#if MP_HAVE_IS_IMMORTAL
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
    return ok ? 0 : mp_add_problem(st, MP_PART_REFCOUNT, why);
}

size_t mp_gc_generations_at = 0;

/* 0 when the generations' thresholds read as gc.get_threshold() gives
 * them (and, with counts, their counts past generation 0 as
 * gc.get_count() does), else 1 with why set; -1 with an error set. */
static int
generations_disagree(PyInterpreterState *interp, PyObject *thresholds,
                     PyObject *counts, char *why, size_t room)
{
    for (int i = 0; i < MP_NUM_GENERATIONS; i++) {
        long expected = PyLong_AsLong(PyTuple_GET_ITEM(thresholds, i));
        if (expected == -1 && PyErr_Occurred()) {
            return -1;
        }
        int direct = mp_gc_threshold(interp, i);
        if (direct != expected) {
            snprintf(why, room, "threshold %d reads %d, gc.get_threshold() "
                     "says %ld", i, direct, expected);
            return 1;
        }
        /* Generation 0's count moves with every allocation. */
        if (counts != NULL && i > 0) {
            expected = PyLong_AsLong(PyTuple_GET_ITEM(counts, i));
            if (expected == -1 && PyErr_Occurred()) {
                return -1;
            }
            if (mp_gc_count(interp, i) != expected) {
                snprintf(why, room, "count %d reads %d, gc.get_count() says "
                         "%ld", i, mp_gc_count(interp, i), expected);
                return 1;
            }
        }
    }
    return 0;
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
        return mp_add_problem(st, MP_PART_GC,
                           "gc.get_threshold() is not a 3-tuple");
    }
    int disagree = generations_disagree(interp, thresholds, NULL, why,
                                        sizeof(why));
#if MP_GC_GENERATIONS_MAY_MOVE && !MP_FREE_THREADED
    if (disagree == 1) {
        /* Built for the other 3.13 layout (see compat.h): the other place,
         * taken only if thresholds and counts all agree there. */
        PyObject *counts = call_module("gc", "get_count", NULL);
        if (counts == NULL) {
            Py_DECREF(thresholds);
            return -1;
        }
        char elsewhere[200] = "";
        if (PyTuple_Check(counts) && PyTuple_GET_SIZE(counts) >= 3) {
            mp_gc_generations_at = mp_gc_generations_elsewhere();
            int there = generations_disagree(interp, thresholds, counts,
                                             elsewhere, sizeof(elsewhere));
            if (there == 0) {
                why[0] = '\0';
            }
            else {
                size_t at = strlen(why);
                snprintf(why + at, sizeof(why) - at, "; as Debian's 3.13 "
                         "lays it out, %s", elsewhere);
                mp_gc_generations_at = 0;
            }
            disagree = there;
        }
        Py_DECREF(counts);
    }
#endif
    Py_DECREF(thresholds);
    if (disagree < 0) {
        return -1;
    }
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
    return why[0] ? mp_add_problem(st, MP_PART_GC, why) : 0;
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
    mp_allocator a;
    mp_current_allocator(&a);
    if (a.family != MP_ALLOC_PYMALLOC && a.family != MP_ALLOC_UNKNOWN) {
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
    return why[0] ? mp_add_problem(st, MP_PART_PYMALLOC, why) : 0;
}

/* The offsets the interpreter publishes about itself (3.13+) vs the ones
 * this extension was compiled with.  1: they agree, 0: they disagree (why
 * is set), -1: the interpreter publishes none. */
static int
check_debug_offsets(char *why, size_t why_size)
{
#if MP_HAVE_DEBUG_OFFSETS
    const _Py_DebugOffsets *d = mp_debug_offsets();
    if (memcmp(d->cookie, "xdebugpy", 8) != 0) {
        snprintf(why, why_size, "debug offsets cookie is not 'xdebugpy'");
        return 0;
    }
    if ((d->version >> 16) != (MP_COMPILED_HEXVERSION >> 16)) {
        snprintf(why, why_size,
                 "debug offsets describe version 0x%llx, compiled for 0x%lx",
                 (unsigned long long)d->version, MP_COMPILED_HEXVERSION);
        return 0;
    }
    if ((int)d->free_threaded != MP_FREE_THREADED) {
        snprintf(why, why_size, "free-threaded flag is %d, compiled for %d",
                 (int)d->free_threaded, MP_FREE_THREADED);
        return 0;
    }
    const struct {
        const char *name;
        unsigned long long published;
        size_t compiled;
    } offsets[] = {
        {"PyInterpreterState.gc", d->interpreter_state.gc,
         offsetof(PyInterpreterState, gc)},
        {"PyObject.ob_type", d->pyobject.ob_type, offsetof(PyObject, ob_type)},
#  if MP_HAVE_GC_DEBUG_OFFSETS
        {"gc.collecting", d->gc.collecting,
         offsetof(struct _gc_runtime_state, collecting)},
#  endif
    };
    for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
        if (offsets[i].published != offsets[i].compiled) {
            snprintf(why, why_size, "%s is at offset %llu, compiled for %zu",
                     offsets[i].name, offsets[i].published,
                     offsets[i].compiled);
            return 0;
        }
    }
    return 1;
#else
    (void)why;
    (void)why_size;
    return -1;
#endif
}

/* Blocks of known sizes must sit in pages whose geometry adds up and whose
 * heap is the calling thread's (3.13+, when mimalloc is the allocator). */
static int
check_mimalloc(mp_state *st)
{
#if MP_HAVE_MIMALLOC
    mp_allocator a;
    mp_current_allocator(&a);
    if (a.name == NULL || a.family != MP_ALLOC_MIMALLOC) {
        return 0;
    }
    static const size_t sizes[] = {24, 200, 3000};
    void *blocks[3] = {NULL, NULL, NULL};
    char why[200] = "";
    for (int i = 0; i < 3; i++) {
        blocks[i] = PyMem_Malloc(sizes[i]);
    }
    for (int i = 0; i < 3 && why[0] == '\0'; i++) {
        if (blocks[i] == NULL) {
            continue;
        }
        const mi_page_t *page = mp_mi_page_of(blocks[i]);
        size_t size = mp_mi_block_size(page);
        uintptr_t lo, hi;
        mp_mi_page_bounds(page, (uintptr_t)page, &lo, &hi);
        int own_heap = mp_mi_is_own_heap(mi_page_heap(page));
        if (size < sizes[i] || size > 2 * sizes[i] + 64
            || (uintptr_t)blocks[i] < lo || (uintptr_t)blocks[i] >= hi
            || page->used == 0 || page->used > page->capacity
            || page->capacity > page->reserved || !own_heap) {
            snprintf(why, sizeof(why),
                     "a %zu-byte block's mimalloc page reads block size %zu, "
                     "used %u of %u/%u, own heap %d: layout differs",
                     sizes[i], size, (unsigned)page->used,
                     (unsigned)page->capacity, (unsigned)page->reserved,
                     own_heap);
        }
    }
    for (int i = 0; i < 3; i++) {
        PyMem_Free(blocks[i]);
    }
    return why[0] ? mp_add_problem(st, MP_PART_MIMALLOC, why) : 0;
#else
    (void)st;
    return 0;
#endif
}

/* Every check, once, at import. */
int
mp_init_layout(PyObject *module, mp_state *st)
{
    char why[200];
    PyObject *version = version_problem(MP_COMPILED_HEXVERSION,
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

    if (check_debug_offsets(why, sizeof(why)) == 0) {
        /* The interpreter's own description of its structs disagrees with
         * ours: no struct we read can be trusted. */
        static const char *parts[] = {MP_PART_REFCOUNT, MP_PART_GC,
                                      MP_PART_PYMALLOC, MP_PART_MIMALLOC};
        for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
            if (mp_add_problem(st, parts[i], why) < 0) {
                return -1;
            }
        }
        return 0;
    }
    /* A check that cannot finish (the program replaced gc.get_threshold
     * with something that raises, memory ran out) marks its part as not
     * verified; the import goes on. */
    static const struct {
        const char *part;
        int (*check)(mp_state *);
    } checks[] = {
        {MP_PART_REFCOUNT, check_refcount},
        {MP_PART_GC, check_gc},
        {MP_PART_PYMALLOC, check_pymalloc},
        {MP_PART_MIMALLOC, check_mimalloc},
    };
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        if (checks[i].check(st) == 0) {
            continue;
        }
        char why[200];
        PyObject *exc = mp_take_exception();
        PyObject *text = exc ? PyObject_Repr(exc) : NULL;
        const char *said = text ? PyUnicode_AsUTF8(text) : NULL;
        snprintf(why, sizeof(why), "the import-time check could not run: %.150s",
                 said ? said : "an error it could not describe");
        PyErr_Clear();
        Py_XDECREF(text);
        Py_XDECREF(exc);
        if (mp_add_problem(st, checks[i].part, why) < 0) {
            return -1;
        }
    }
    return 0;
}
