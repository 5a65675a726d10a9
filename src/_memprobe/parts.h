/* parts.h: what the parts of _memprobe share.
 *
 * THE RULE for results crossing from C to Python.  A probe reads what it
 * needs into C memory (a struct on the stack, or PyMem_Raw memory) and only
 * then builds its answer out of plain builtins: int, bool, str, bytes, None,
 * and tuples whose items come in the order the Python type in
 * memprobe/_types.py declares the fields that are read (the comment above
 * each entry point spells the tuple out).  Python builds every typed result
 * (maker.c only stores the values Python passes into the slots) and
 * computes every derived number, except pymalloc's per-class and byte
 * counts, which pymalloc.c derives from its walk as
 * _PyObject_DebugMallocStats does.  The C module imports nothing from
 * Python.
 *
 * One exception: refcount() and refinfo() are called directly by users,
 * because a Python wrapper's own references to the argument would be part
 * of the count they read.  refcount() returns an int; refinfo() builds its
 * RefInfo, a NamedTuple the package hands over once at import
 * (_set_refinfo_type), from the same plain tuple as tuple.__new__ would,
 * running no Python code.
 *
 * _memprobe.c runs the init steps below in order; each part owns its method
 * table and adds it in its init step.  Parts call only state.c,
 * interpreter.c, maker.c (mp_tuple_of) and, for the captured report and
 * whether pymalloc serves, pymalloc.c; blocks.c also asks gc_lists.c to
 * visit the lists and census.c which types are memprobe's own; snapshot.c
 * reads through every part's read/build/release trio: no circle.  Every
 * difference between CPython versions lives in compat.h.
 */
#ifndef MEMPROBE_PARTS_H
#define MEMPROBE_PARTS_H

#include "compat.h"

/* ---- state.c: per-module state, errors, which parts may be read --------- */

/* Nothing memprobe keeps is process-global: each (sub)interpreter that
 * imports memprobe gets its own. */
typedef struct {
    PyObject *error;             /* memprobe.MemprobeError */
    PyObject *unsupported;       /* memprobe.UnsupportedInterpreter */
    PyObject *no_pymalloc;       /* memprobe.PymallocUnavailable */
    PyObject *no_mimalloc;       /* memprobe.MimallocUnavailable */
    PyObject *layout_problems;   /* dict: part name -> why it failed */
    PyObject *refinfo_type;      /* memprobe.RefInfo, handed over at import */
    PyObject *refinfo_names;     /* tuple: refcount.c's str fields */
    PyObject *own_types;         /* tuple: memprobe's result types, whose
                                    instances census leaves out */
    PyObject *getallocatedblocks;    /* sys.getallocatedblocks, as at import */
    PyObject *maker_type;        /* maker.c's Maker */
    unsigned long runtime_hexversion;
    char version_text[48];
    int pymalloc_constants_verified;
    int64_t readings;            /* snapshot readings taken, in order */
} mp_state;

/* Parts of the interpreter a probe may depend on.  A failed import-time
 * check of a part makes the probes that need it raise
 * UnsupportedInterpreter; "version" failing fails every part. */
#define MP_PART_VERSION "version"
#define MP_PART_REFCOUNT "refcount"
#define MP_PART_GC "gc"
#define MP_PART_PYMALLOC "pymalloc"
#define MP_PART_MIMALLOC "mimalloc"

/* The state as it is, for init, traverse and clear only. */
mp_state *mp_get_state(PyObject *module);

/* Every entry point starts here (or with mp_probe_state): the module's
 * state, or NULL with MemprobeError set when m_clear has already run. */
mp_state *mp_module_state(PyObject *module);

/* Every probe starts here: the module's state once `part` passed its
 * import-time check, else NULL with UnsupportedInterpreter set naming the
 * interpreter and the reason. */
mp_state *mp_probe_state(PyObject *module, const char *part);

/* Why a part cannot be read.  Decided while reading, when nothing may be
 * allocated, and raised (or turned into a snapshot's "why") only once
 * everything is read. */
typedef struct {
    PyObject *type;         /* the exception class (borrowed); NULL: none */
    const char *part;       /* set: this part failed its import check */
    char why[200];          /* else: the message */
} mp_refusal;

/* 1 when `part` passed its import-time check, else 0 with *r filled in.
 * Allocates nothing. */
int mp_check_part(mp_state *st, const char *part, mp_refusal *r);

/* Fills *r with `type` and a printf-style message; returns 0. */
int mp_refuse(mp_refusal *r, PyObject *type, const char *format, ...);

/* r's message as a str, or NULL with an error set. */
PyObject *mp_refusal_text(mp_state *st, const mp_refusal *r);

/* Raises r's exception; returns NULL. */
PyObject *mp_raise_refusal(mp_state *st, const mp_refusal *r);

/* Records that `part` failed its check (why: a short reason).  0 or -1. */
int mp_add_problem(mp_state *st, const char *part, const char *why);

/* "3.12.1": the running interpreter's version, for messages. */
const char *mp_version_text(mp_state *st);

/* Open-addressing hash of a pointer into a table of mask + 1 slots. */
static inline size_t
mp_hash_pointer(const void *p, size_t mask)
{
    uintptr_t x = (uintptr_t)p >> 4;
    x ^= x >> 17;
    x *= (uintptr_t)0x9E3779B97F4A7C15ULL;
    return (size_t)(x ^ (x >> 29)) & mask;
}

/* ---- interpreter.c: facts about the running interpreter ------------------ */

typedef enum {
    MP_GC_GENERATIONAL = 0,
    MP_GC_INCREMENTAL = 1,
    MP_GC_FREE_THREADED = 2
} mp_gc_regime;

/* The regime of an interpreter of this version (a wheel built against
 * 3.14.10 headers may be loaded into 3.14.0-3.14.4, which ran the
 * incremental collector). */
mp_gc_regime mp_gc_regime_for(unsigned long hexversion, int free_threaded);


typedef enum {
    MP_ALLOC_UNKNOWN = 0,       /* hooked, and nothing tells what is under */
    MP_ALLOC_PYMALLOC,
    MP_ALLOC_MALLOC,
    MP_ALLOC_MIMALLOC,
    MP_ALLOC_OTHER              /* hooked, and what is under is not pymalloc */
} mp_allocator_family;

/* The allocator serving PyObject_Malloc now: the one place that decides.
 * Under hooks (tracemalloc) the name is gone; on 3.12+ a block the
 * interpreter allocated (sys.modules) then tells whether pymalloc serves
 * underneath, and whether the debug layer pads its blocks. */
typedef struct {
    const char *name;           /* "pymalloc", "malloc_debug", ...; NULL: hooked */
    mp_allocator_family family;
    int debug;                  /* a _debug layer pads every block */
} mp_allocator;

void mp_current_allocator(mp_allocator *a);

/* ---- obmalloc.c: the pymalloc block an object lives in (3.12+) ----------- */

typedef struct {
    uintptr_t arena, pool;
    unsigned int arena_index, size_class;
    Py_ssize_t debug_padding;   /* the debug layer's front words, in bytes */
} mp_block_location;

/* 1: op's memory is a block of a live arena's in-use pool (the debug
 * layer's front words, when its block starts with them, included); 0: it
 * is not a pymalloc block; -1: nothing can tell (before 3.12). */
int mp_pymalloc_block_of(PyObject *op, mp_block_location *where);

/* "generational", "incremental" or "free-threaded". */
const char *mp_gc_regime_name(mp_gc_regime regime);

/* ---- gc: where objects are in the cyclic collector ----------------------- */

/* Where an object is.  The one home of these numbers: memprobe.Generation
 * takes its values from _memprobe.GENERATION_CODES, made from this list
 * (gc.c). */
#define MP_GENERATION_CODES(X) \
    X(NOT_GC, -3) \
    X(UNTRACKED, -2) \
    X(IN_COLLECTION, -1) \
    X(GEN0, 0) \
    X(GEN1, 1) \
    X(GEN2, 2) \
    X(PERMANENT, 3) \
    X(YOUNG, 10) \
    X(OLD_VISITED, 11) \
    X(OLD_PENDING, 12) \
    X(TRACKED, 20)

#define MP_GEN_ENUM_ITEM(name, value) MP_GEN_##name = value,
enum {
    MP_GEN_UNKNOWN = -100,      /* not a code: the lookup failed */
    MP_GENERATION_CODES(MP_GEN_ENUM_ITEM)
};
#undef MP_GEN_ENUM_ITEM

/* gc_lists.c (GIL builds: the generation lists) and gc_bits.c
 * (free-threaded builds: ob_gc_bits) each define these; only one of the
 * two is compiled.  Lists are numbered 0..MP_GC_LISTS-1: generations 0-2
 * and the permanent generation on GIL builds; on free-threaded builds one
 * "list", the tracked objects gc.freeze() has not frozen. */
#define MP_GC_LISTS (MP_FREE_THREADED ? 1 : MP_NUM_LISTS)

/* The generation code of the objects in `list`. */
int mp_gc_list_code(mp_state *st, int list);

/* The generation code of each of n objects: 0, or -1 with an error set. */
int mp_gc_locate(mp_state *st, PyObject *const *objs, Py_ssize_t n,
                 int *codes);

/* obj's finalized bit (0 for objects outside the collector). */
int mp_gc_finalized(PyObject *op);

/* The raw ob_gc_bits byte (free-threaded builds), else -1. */
int mp_gc_bits(PyObject *op);

/* Sets of lists, as bits.  Unless frozen objects are asked for, a probe
 * reads every list but the permanent one: a long frozen list (gc.freeze()
 * before fork) is never walked to answer about the others. */
#define MP_LIST(list) (1u << (list))
#define MP_EVERY_LIST (MP_LIST(MP_GC_LISTS) - 1)
#define MP_UNFROZEN_LISTS \
    (MP_FREE_THREADED ? MP_EVERY_LIST : MP_EVERY_LIST & ~MP_LIST(MP_PERMANENT_LIST))

/* The set an entry point's int argument names, or (unsigned)-1 with an
 * error set (census.c). */
unsigned mp_lists_argument(PyObject *arg);

/* The lists known to be empty without walking them (a head that points
 * to itself). */
unsigned mp_gc_empty_lists(void);

/* The number of objects in each list of the set, walked; a list outside
 * it is 0 when known to be empty, else -1 (as is a list this build does
 * not keep).  0, or -1 with an error set. */
int mp_gc_list_lengths(mp_state *st, unsigned lists,
                       Py_ssize_t lengths[MP_NUM_LISTS]);

#if !MP_FREE_THREADED
/* The head of `list` in the interpreter state at `interp` (GIL builds). */
PyGC_Head *mp_gc_list_head(PyInterpreterState *interp, int list);
#endif

/* Calls visit(op, list, arg) for every object of the lists in the set,
 * until visit returns nonzero.  Runs no Python code and creates no Python
 * object.  On free-threaded builds the world is stopped meanwhile: visit
 * must not allocate there (MP_GC_VISIT_MAY_ALLOCATE).  Returns 0, or -1
 * with an error set. */
typedef int (*mp_gc_visitor)(PyObject *op, int list, void *arg);
int mp_gc_visit(mp_state *st, unsigned lists, mp_gc_visitor visit, void *arg);
#define MP_GC_VISIT_MAY_ALLOCATE (!MP_FREE_THREADED)

/* ---- gc.c: the collector's state, read, then built ----------------------- */

typedef struct {
    int enabled, collecting;
    int count[MP_NUM_GENERATIONS], threshold[MP_NUM_GENERATIONS];
    mp_gc_counters counters;
    Py_ssize_t length[MP_NUM_LISTS];    /* -1: no such list, or not walked */
} mp_gc_reading;

/* Everything but the lengths, which come from a walk (gc_lists.c or a
 * census).  Allocates nothing. */
void mp_gc_read(mp_gc_reading *r);
PyObject *mp_gc_build(const mp_gc_reading *r);

/* The same, of the interpreter state at `interp`: the calling one, or a
 * copy of another process's (remote.c).  On free-threaded builds the
 * young count adds the calling thread's batch: only the calling one. */
void mp_gc_read_of(PyInterpreterState *interp, mp_gc_reading *r);

/* ---- census.c: tracked objects counted per type and list ------------------ */

typedef struct {
    PyTypeObject *type;
    Py_ssize_t count[MP_NUM_LISTS];
} mp_census_slot;

typedef struct {
    mp_census_slot *slots;      /* PyMem_Raw, open addressing by type */
    size_t mask, used;
    int full;                   /* a new type found no room */
    int held;                   /* a reference to each type is held */
    unsigned known;             /* lists counted, or known to be empty */
} mp_census;

/* Counts the lists of the set into *c and holds a reference to each type
 * counted: 0, or -1 with an error set (and *c released). */
int mp_census_read(mp_state *st, unsigned lists, mp_census *c);

/* The table itself, for counts made elsewhere (remote.c counts another
 * process's objects by the address of their type, never dereferenced):
 * an empty table of `size` slots, a power of two (0, or -1 when memory ran
 * out; no error set); one more object of `type` in `list`, the table
 * doubling when full if may_grow (0, or 1 when it is full and could not
 * grow: c->full set).  Raw memory only: both run without the GIL. */
int mp_census_init(mp_census *c, size_t size);
int mp_census_count(mp_census *c, PyTypeObject *type, int list, int may_grow);

/* Whether instances of `type` are memprobe's own results: `own` is the
 * tuple of their types (st->own_types, or NULL); hold a reference to it
 * while Python code may run (a finalizer may replace the module's tuple). */
int mp_is_own_type(PyObject *own, PyTypeObject *type);

/* Objects per list, memprobe's own results included (the lists' true
 * lengths); -1 for a list not known. */
void mp_census_lengths(const mp_census *c, Py_ssize_t length[MP_NUM_LISTS]);

/* (codes, types, columns, totals, own, known), each a tuple: the
 * generation code of each list; the types counted, memprobe's own result
 * types left out; their counts, one column per list in the order of the
 * types, then one column of the sum over the lists counted but the
 * permanent one; each list's total of those counts; the objects of
 * memprobe's own types left out of each list; and whether each list's
 * counts are known (counted, or empty). */
PyObject *mp_census_build(mp_state *st, const mp_census *c);
void mp_census_release(mp_census *c);

/* ---- maker.c ------------------------------------------------------------- */

/* Most fields a result made in C may have. */
#define MP_MAX_FIELDS 64

/* An instance of the tuple subclass cls (a NamedTuple) holding items[0..n),
 * made as tuple.__new__ makes it: steals every item; NULL with an error set
 * when an item is NULL (an error is then set already) or on failure. */
PyObject *mp_tuple_of(PyTypeObject *cls, PyObject **items, Py_ssize_t n);

/* ---- pymalloc.c ------------------------------------------------------------ */

/* 1 when pymalloc serves objects, else 0 with *r saying why.  Hooks
 * (tracemalloc) hide the allocator's name: pymalloc may still serve
 * underneath.  Allocates nothing. */
int mp_pymalloc_serves(mp_state *st, mp_refusal *r);

/* pymalloc read into C memory: the walk of its state (3.12+; per arena
 * when asked), or before 3.12 the interpreter's report and
 * sys.getallocatedblocks(), back to back. */
typedef struct mp_pymalloc_reading mp_pymalloc_reading;

/* 0 with *out set, or with *out NULL and *r saying why pymalloc cannot be
 * read; -1 with an error set. */
int mp_pymalloc_read(mp_state *st, int with_arenas, mp_pymalloc_reading **out,
                     mp_refusal *r);
/* The count behind sys.getallocatedblocks() read with it, or -1 (3.12+). */
Py_ssize_t mp_pymalloc_allocated_blocks(const mp_pymalloc_reading *p);
/* What _pymalloc_state() returns.  3.12+ (MP_PYMALLOC_STATE):
 * (arenas_allocated_total, arenas_highwater, arenas_current,
 *  raw_allocated_blocks, unused_pools, classes, the six byte counts of
 *  PymallocSnapshot in its order, arenas), classes holding MP_CLASS_ROW
 * values per class with pools: (class_index, block_size, pools,
 * blocks_in_use, blocks_free).  Before 3.12: (report, allocated_blocks),
 * but the same tuple as 3.12+ for a reading mp_pymalloc_read_from made. */
#define MP_CLASS_ROW 5
#define MP_PYMALLOC_BYTE_COUNTS 6
PyObject *mp_pymalloc_build(const mp_pymalloc_reading *p);
/* The reading as 64-bit words into words[0..room), allocating nothing:
 * the number of words it takes (more than room: nothing was cut short
 * silently, the caller asks again with more room). */
size_t mp_pymalloc_pack(const mp_pymalloc_reading *p, int64_t *words,
                        size_t room);
void mp_pymalloc_release(mp_pymalloc_reading *p);
#if MP_HAVE_POOL_LAYOUT
/* Where a walk reads pool headers when not in place (another process's):
 * n headers, MP_POOL_SIZE apart from first, into into[]; 0 or an errno. */
typedef struct {
    int (*read)(void *ctx, uintptr_t first, unsigned int n, mp_pool *into);
    void *ctx;
} mp_pool_source;
/* The counters a walk takes beside the arena table: 3.12+ keeps them in
 * struct _obmalloc_mgmt, 3.9-3.11 in obmalloc.c's statics of these names. */
typedef struct {
    unsigned int maxarenas;             /* entries in the arena table */
    size_t ntimes_arena_allocated, narenas_highwater;
    Py_ssize_t raw_allocated_blocks;
} mp_pymalloc_totals;
/* A reading, with arenas, of a state copied from elsewhere: its totals and
 * arena table, its pools' headers through src.  0 with *out set, or with
 * *out NULL and *problem saying why the copy does not hold together (its
 * process changed it meanwhile); -1 with an error set; or src's errno.
 * Only mp_pymalloc_build and mp_pymalloc_release take such a reading. */
int mp_pymalloc_read_from(const mp_pymalloc_totals *totals,
                          const mp_arena *arenas, const mp_pool_source *src,
                          mp_pymalloc_reading **out, const char **problem);
#endif

/* ---- mimalloc.c: mimalloc's heaps, read with other threads paused --------- */

typedef struct mp_mimalloc_reading mp_mimalloc_reading;

/* As mp_pymalloc_read. */
int mp_mimalloc_read(mp_state *st, mp_mimalloc_reading **out, mp_refusal *r);
/* What _mimalloc() returns. */
PyObject *mp_mimalloc_build(const mp_mimalloc_reading *m);
/* As mp_pymalloc_pack. */
size_t mp_mimalloc_pack(const mp_mimalloc_reading *m, int64_t *words,
                        size_t room);
void mp_mimalloc_release(mp_mimalloc_reading *m);

#if MP_HAVE_MIMALLOC
/* Called with each page that holds blocks, the heap kind it serves (on
 * free-threaded builds CPython's _Py_MIMALLOC_HEAP_* tag) and whether its
 * thread exited; nonzero stops the walk. */
typedef int (*mp_mi_page_visitor)(const mi_page_t *page, int heap,
                                  int abandoned, void *arg);
/* Counting another process's pages (remote_heaps.c): an empty reading
 * (NULL when memory ran out); one more page, a copy, with the blocks other
 * threads freed into it and its owner has not taken back (0, or 1 when it
 * does not add up); then how many threads were read and whether the
 * abandoned pool was. */
mp_mimalloc_reading *mp_mimalloc_new(void);
int mp_mimalloc_count(mp_mimalloc_reading *m, const mi_page_t *page, int heap,
                      int abandoned, Py_ssize_t pending);
void mp_mimalloc_walked(mp_mimalloc_reading *m, int threads,
                        int abandoned_walked);
/* Every page of the interpreter's mimalloc heaps (free-threaded: every
 * thread's, and the abandoned pool on mimalloc 2.1; default builds: the
 * calling thread's), with other threads paused by the caller: 0, the
 * visitor's nonzero, or -1 when a list loops.  Counts the threads read
 * and says whether the abandoned pool was. */
int mp_mi_visit_pages(PyInterpreterState *interp, mp_mi_page_visitor visit,
                      void *arg, int *threads, int *abandoned_walked);
/* Every page of one segment in address order: 0, the visitor's nonzero,
 * or -1 when its slices do not add up. */
int mp_mi_segment_pages(mi_segment_t *segment, int abandoned,
                        mp_mi_page_visitor visit, void *arg);
#endif

/* ---- blocks.c: pymalloc's blocks by the type of the object each holds ---- */

typedef struct mp_blocks_reading mp_blocks_reading;

/* As mp_pymalloc_read (3.12+, pymalloc serving, not a legacy
 * subinterpreter); with per_pool, each pool's most common type too.  The
 * types counted are held until released. */
int mp_blocks_read(mp_state *st, int per_pool, mp_blocks_reading **out,
                   mp_refusal *r);
/* What _block_census() returns. */
PyObject *mp_blocks_build(const mp_blocks_reading *b);
void mp_blocks_release(mp_blocks_reading *b);

/* sys.getallocatedblocks() counts the blocks of the allocator CPython
 * recognizes as serving objects: pymalloc, or mimalloc from 3.13.  Under
 * any other (PYTHONMALLOC=malloc, or tracemalloc's hooks over mimalloc) it
 * returns 0, which a running interpreter never has: the count is unknown,
 * not zero.  mp_blocks_counted judges a count read this way. */
#define MP_BLOCKS_NOT_COUNTED (-2)
Py_ssize_t mp_blocks_counted(Py_ssize_t count);

/* The count behind sys.getallocatedblocks(), now: the C call before 3.12,
 * else the function as it was at import (which reads before it allocates
 * its result).  MP_BLOCKS_NOT_COUNTED as above; -1 with an error set. */
Py_ssize_t mp_allocated_blocks_now(mp_state *st);

/* Writes _PyObject_DebugMallocStats output into a malloc'ed, NUL-terminated
 * buffer without touching file descriptor 2.  Returns NULL with MemoryError
 * or OSError set on failure. */
char *mp_capture_malloc_stats(size_t *length);
/* Test hook _fail_report_captures(n): the next n captures fail. */
PyObject *mp_fail_report_captures(PyObject *module, PyObject *count);

/* ---- native.c: the process's memory as the system sees it ------------------ */

/* Pages of [start, start + length) resident in memory (mincore), or -1
 * when that cannot be known (the range is not mapped, or no mincore). */
Py_ssize_t mp_resident_pages(uintptr_t start, size_t length);

/* ---- Init steps, in the order _memprobe.c runs them ------------------------ */

int mp_init_state(PyObject *module, mp_state *st);        /* state.c */
int mp_init_interpreter(PyObject *module, mp_state *st);  /* interpreter.c */
int mp_init_maker(PyObject *module, mp_state *st);        /* maker.c */
int mp_init_refcount(PyObject *module, mp_state *st);     /* refcount.c */
int mp_init_gc(PyObject *module, mp_state *st);           /* gc.c */
int mp_init_census(PyObject *module, mp_state *st);       /* census.c */
int mp_init_pymalloc(PyObject *module, mp_state *st);     /* pymalloc.c */
int mp_init_blocks(PyObject *module, mp_state *st);       /* blocks.c */
int mp_init_mimalloc(PyObject *module, mp_state *st);     /* mimalloc.c */
int mp_init_snapshot(PyObject *module, mp_state *st);     /* snapshot.c */
int mp_init_native(PyObject *module, mp_state *st);       /* native.c */
int mp_init_remote(PyObject *module, mp_state *st);       /* remote.c */
int mp_init_layout(PyObject *module, mp_state *st);       /* layout.c */

int mp_traverse_state(mp_state *st, visitproc visit, void *arg);
void mp_clear_state(mp_state *st);
void mp_free_state(mp_state *st);

/* ---- Test-only entry points (the marked sub-table in _memprobe.c) --------- */

PyObject *mp_set_layout_problem(PyObject *module, PyObject *args);  /* state.c */
PyObject *mp_version_problem(PyObject *module, PyObject *args);     /* layout.c */
PyObject *mp_gc_regime_for_version(PyObject *module, PyObject *args);
                                                        /* interpreter.c */
PyObject *mp_pymalloc_with_report(PyObject *module, PyObject *unused);
                                                        /* pymalloc.c */
PyObject *mp_bare_walk(PyObject *module, PyObject *lists);      /* gc.c */

#endif /* MEMPROBE_PARTS_H */
