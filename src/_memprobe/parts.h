/* parts.h: what the parts of _memprobe share.
 *
 * _memprobe.c holds the method table and module init; each subject is one
 * file beside this header.  All version differences live in compat.h.
 */
#ifndef MEMPROBE_PARTS_H
#define MEMPROBE_PARTS_H

#include "compat.h"

/* Result types, declared once in memprobe/_types.py (names in
 * _memprobe.c). */
enum {
    MP_TYPE_REFINFO,
    MP_TYPE_GENERATION,
    MP_TYPE_GCINFO,
    MP_TYPE_GENERATION_STATE,
    MP_TYPE_GC_STATE,
    MP_TYPE_CENSUS,
    MP_TYPE_COUNT
};

/* Per-module state: nothing memprobe keeps is process-global, so each
 * (sub)interpreter that imports memprobe gets its own. */
typedef struct {
    PyObject *error;             /* memprobe.MemprobeError */
    PyObject *unsupported;       /* memprobe.UnsupportedInterpreter */
    PyObject *no_pymalloc;       /* memprobe.PymallocUnavailable */
    PyObject *no_mimalloc;       /* memprobe.MimallocUnavailable */
    PyObject *layout_problems;   /* dict: part name -> why it failed */
    PyObject *types[MP_TYPE_COUNT];  /* result types, from memprobe._types */
    PyObject *generation_members;    /* {code: memprobe.Generation member} */
    unsigned long runtime_hexversion;
    char version_text[16];
    int pymalloc_constants_verified;
} mp_state;

mp_state *mp_get_state(PyObject *module);

/* Calls result type `which` with keyword arguments kw (a new reference,
 * consumed; NULL passes an error through). */
PyObject *mp_build_result(mp_state *st, int which, PyObject *kw);

/* Parts of the interpreter a probe may depend on.  A failed import-time
 * check of a part makes the probes that need it raise
 * UnsupportedInterpreter; "version" failing fails every part. */
#define MP_PART_VERSION "version"
#define MP_PART_REFCOUNT "refcount"
#define MP_PART_GC "gc"
#define MP_PART_PYMALLOC "pymalloc"
#define MP_PART_MIMALLOC "mimalloc"

/* "3.12.1": the running interpreter's version, for messages (Py_GetVersion
 * also carries the build date and compiler, on two lines before 3.10). */
const char *mp_version_text(mp_state *st);

/* Returns 0 when part passed its checks, else sets UnsupportedInterpreter
 * naming the interpreter and the reason, and returns -1. */
int mp_require(mp_state *st, const char *part);

/* layout.c: checks run once at import. */
int mp_validate_layout(PyObject *module, mp_state *st);
PyObject *mp_version_problem(PyObject *module, PyObject *args);
PyObject *mp_set_layout_problem(PyObject *module, PyObject *args);
PyObject *mp_layout_problems(PyObject *module, PyObject *unused);

/* Writes _PyObject_DebugMallocStats output into a malloc'ed, NUL-terminated
 * buffer without touching file descriptor 2.  Returns NULL with MemoryError
 * or OSError set on failure. */
char *mp_capture_malloc_stats(size_t *length);

/* refcount.c */
PyObject *mp_refcount(PyObject *module, PyObject *obj);
PyObject *mp_refinfo(PyObject *module, PyObject *obj);

/* gc.c */
PyObject *mp_generation(PyObject *module, PyObject *obj);
PyObject *mp_gcinfo(PyObject *module, PyObject *obj);
PyObject *mp_generations(PyObject *module, PyObject *objs);
PyObject *mp_gc_state_probe(PyObject *module, PyObject *unused);
PyObject *mp_census(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                    PyObject *kwnames);

/* pymalloc.c */
PyObject *mp_pymalloc_gather(PyObject *module, PyObject *with_arenas);
PyObject *mp_pymalloc_gather_with_report(PyObject *module, PyObject *unused);
PyObject *mp_block_info(PyObject *module, PyObject *obj);

/* mimalloc.c */
PyObject *mp_mimalloc_gather(PyObject *module, PyObject *unused);
int mp_check_mimalloc_layout(char *why, size_t why_size);

/* interpreter.c */
PyObject *mp_interpreter_facts(PyObject *module, PyObject *unused);
PyObject *mp_gc_regime_name(PyObject *module, PyObject *args);

#endif /* MEMPROBE_PARTS_H */
