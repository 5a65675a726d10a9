/* compat.h: the one place that knows how CPython versions differ.
 *
 * Accessors and shims only: every other part reads interpreter internals
 * through the inline functions and macros declared here, and tests
 * features (MP_HAVE_*), never PY_VERSION_HEX.  Each section names the
 * CPython structures it touches and the versions it covers:
 *
 *   refcount field   PyObject header: ob_refcnt (3.9-3.11), the split union
 *                    (3.12-3.13), {ob_refcnt, ob_overflow, ob_flags} (3.14+),
 *                    {ob_tid, ob_gc_bits, ob_ref_local, ob_ref_shared}
 *                    (free-threaded 3.13+)
 *   GC state         PyInterpreterState.gc (struct _gc_runtime_state)
 *   pymalloc         compiled constants from internal/pycore_obmalloc.h (3.12+);
 *                    before 3.12 they live in Objects/obmalloc.c only, so the
 *                    values are restated here and checked at import against
 *                    _PyObject_DebugMallocStats output
 *   mimalloc         pages, heaps and the abandoned pool (3.13+)
 *   debug offsets    _PyRuntime.debug_offsets (3.13+)
 *   allocator        the current allocator's name, its printed report
 *   types            member descriptors' type codes, the flag that makes a
 *                    type uncallable, the tuple's cached hash (maker.c)
 */
#ifndef MEMPROBE_COMPAT_H
#define MEMPROBE_COMPAT_H

/* Internal headers need a core define; plain Py_BUILD_CORE breaks imports on
 * 3.12/3.13 (_Py_tss_tstate) and dllimport on Windows. */
#ifndef Py_BUILD_CORE_MODULE
#  define Py_BUILD_CORE_MODULE 1
#endif
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>

#if PY_VERSION_HEX < 0x03090000
#  error "memprobe supports CPython 3.9 and later"
#endif

#if PY_VERSION_HEX < 0x030A0000
static inline PyObject *
Py_NewRef(PyObject *obj)
{
    Py_INCREF(obj);
    return obj;
}

static inline int
PyModule_AddObjectRef(PyObject *module, const char *name, PyObject *value)
{
    Py_INCREF(value);
    if (PyModule_AddObject(module, name, value) < 0) {
        Py_DECREF(value);
        return -1;
    }
    return 0;
}
#endif

/* Member descriptors (maker.c): the type codes were renamed in 3.12 and
 * structmember.h, their old home, is deprecated there. */
#if PY_VERSION_HEX >= 0x030C0000
#  define MP_T_OBJECT_EX Py_T_OBJECT_EX
#  define MP_READONLY Py_READONLY
#else
#  include "structmember.h"
#  define MP_T_OBJECT_EX T_OBJECT_EX
#  define MP_READONLY READONLY
#endif

/* A tuple subclass's instance made by tp_alloc: 3.14+ caches a tuple's
 * hash in ob_hash, where zeroed memory would read as a cached hash of 0
 * (tuple.__new__ resets it to -1, "not computed"). */
#if PY_VERSION_HEX >= 0x030E0000
#  include "internal/pycore_tuple.h"
#  define mp_tuple_reset_hash(op) _PyTuple_RESET_HASH_CACHE(op)
#else
#  define mp_tuple_reset_hash(op) ((void)(op))
#endif

/* An int's digit count sits above these bits of lv_tag (3.12+). */
#if PY_VERSION_HEX >= 0x030C0000
#  define MP_LONG_NON_SIZE_BITS _PyLong_NON_SIZE_BITS
#endif

/* Whether a code object holds a cached frame object: before 3.11 a
 * function's first call leaves its frame on co_zombieframe (kept for the
 * next call); -1 from 3.11 on, where frames are not objects. */
static inline int
mp_code_caches_frame(PyCodeObject *code)
{
#if PY_VERSION_HEX < 0x030B0000
    return code->co_zombieframe != NULL;
#else
    (void)code;
    return -1;
#endif
}

/* A type made from a spec that Python code cannot call (3.10+; on 3.9
 * such an instance has no class and refuses every use). */
#ifdef Py_TPFLAGS_DISALLOW_INSTANTIATION
#  define MP_NOT_INSTANTIABLE Py_TPFLAGS_DISALLOW_INSTANTIATION
#else
#  define MP_NOT_INSTANTIABLE 0
#endif

#include "internal/pycore_interp.h"   /* PyInterpreterState.gc */
#include "internal/pycore_gc.h"       /* PyGC_Head, _Py_AS_GC, GC bits */
#if PY_VERSION_HEX >= 0x030C0000
#  include "internal/pycore_obmalloc.h"
#endif
/* _PyRuntime: its interpreters (remote.c) and, 3.13+, its debug_offsets. */
#include "internal/pycore_runtime.h"
#if PY_VERSION_HEX >= 0x030B0000
/* _PyMem_GetCurrentAllocatorName (3.13+), _Py_GetAllocatedBlocks and
 * _PyObject_DebugMallocStats (3.11) are declared here. */
#  include "internal/pycore_pymem.h"
#endif

#ifdef Py_GIL_DISABLED
#  define MP_FREE_THREADED 1
#else
#  define MP_FREE_THREADED 0
#endif

#ifdef Py_DEBUG
#  define MP_DEBUG_BUILD 1
#else
#  define MP_DEBUG_BUILD 0
#endif

/* The exception being raised, taken (the error indicator is cleared);
 * NULL when none.  PyErr_Fetch is deprecated from 3.12. */
static inline PyObject *
mp_take_exception(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
#endif
}

/* ---- Runtime version --------------------------------------------------- */

#define MP_COMPILED_HEXVERSION ((unsigned long)PY_VERSION_HEX)

/* The PY_VERSION_HEX of the interpreter we were loaded into (not the one we
 * were compiled for).  Py_Version is exported from 3.11; before that the
 * caller passes sys.hexversion, read once at import. */
static inline unsigned long
mp_runtime_hexversion(unsigned long sys_hexversion)
{
#if PY_VERSION_HEX >= 0x030B0000
    (void)sys_hexversion;
    return Py_Version;
#else
    return sys_hexversion;
#endif
}

/* ---- Reference count field --------------------------------------------- */

typedef enum {
    MP_REFCNT_CLASSIC = 0,      /* one Py_ssize_t: 3.9-3.11 */
    MP_REFCNT_SPLIT = 1,        /* two 32-bit halves: 3.12-3.13 */
    MP_REFCNT_FLAGS = 2,        /* 32-bit count, overflow, flags: 3.14+ */
    MP_REFCNT_FREE_THREADED = 3 /* local + shared: free-threaded 3.13+ */
} mp_refcnt_layout;

/* Everything the header says about an object's reference count, copied out
 * with plain (or, free-threaded, relaxed atomic) loads before any Python
 * object is built. */
typedef struct {
    mp_refcnt_layout layout;
    Py_ssize_t count;           /* what sys.getrefcount(obj) reports */
    int immortal;
    int static_immortal;        /* 3.14+: statically allocated flag */
    int64_t word;               /* the whole field as one integer (GIL builds) */
    uint32_t low, high;         /* 3.12+: low 32 bits, high 32 bits */
    uint16_t overflow, flags;   /* 3.14+ */
    /* free-threaded only */
    uint32_t local;
    Py_ssize_t shared_raw;      /* ob_ref_shared, undecoded */
    uintptr_t tid;
    uint8_t gc_bits;
    int deferred;
    Py_ssize_t deferred_bias;   /* 3.14+: added to the shared count */
    Py_ssize_t effective;       /* count without the deferred bias */
} mp_refcnt_view;

/* Immortal objects exist from 3.12; sys._is_immortal and the ob_flags field
 * (also on free-threaded builds) from 3.14. */
#define MP_HAVE_IMMORTAL (PY_VERSION_HEX >= 0x030C0000)
#define MP_HAVE_IS_IMMORTAL (PY_VERSION_HEX >= 0x030E0000)
#define MP_HAVE_OB_FLAGS (PY_VERSION_HEX >= 0x030E0000)

/* Shared-count state bits and shift of free-threaded builds
 * (Include/internal/pycore_object.h: _Py_REF_SHARED_SHIFT and friends). */
#define MP_REF_SHARED_SHIFT 2
#define MP_REF_SHARED_FLAG_MASK 0x3
#define MP_GC_BITS_DEFERRED 64
/* 3.14 free-threaded builds add this to the shared count of objects that use
 * deferred reference counting, so they outlive their last counted reference
 * until a collection (pycore_object.h: _Py_REF_DEFERRED). */
#define MP_REF_DEFERRED_BIAS (PY_SSIZE_T_MAX / 8)
/* What Py_REFCNT reports for an immortal free-threaded object. */
#if PY_VERSION_HEX >= 0x030E0000
#  define MP_FT_IMMORTAL_REPORTED_COUNT ((Py_ssize_t)_Py_IMMORTAL_INITIAL_REFCNT)
#else
#  define MP_FT_IMMORTAL_REPORTED_COUNT ((Py_ssize_t)_Py_IMMORTAL_REFCNT)
#endif

#if MP_FREE_THREADED
/* Py_REFCNT's own rule for a free-threaded object that is not immortal,
 * restated so that the fields read are the source. */
static inline Py_ssize_t
mp_ft_count(uint32_t local, Py_ssize_t shared_raw)
{
    return (Py_ssize_t)local
           + Py_ARITHMETIC_RIGHT_SHIFT(Py_ssize_t, shared_raw, MP_REF_SHARED_SHIFT);
}

/* What 3.14+ adds to the shared count of objects with deferred counting. */
static inline Py_ssize_t
mp_ft_deferred_bias(uint8_t gc_bits)
{
#  if PY_VERSION_HEX >= 0x030E0000
    return (gc_bits & MP_GC_BITS_DEFERRED) ? MP_REF_DEFERRED_BIAS : 0;
#  else
    (void)gc_bits;
    return 0;
#  endif
}
#endif

static inline void
mp_read_refcnt(PyObject *op, mp_refcnt_view *v)
{
    memset(v, 0, sizeof(*v));
#if MP_FREE_THREADED
    v->layout = MP_REFCNT_FREE_THREADED;
    v->local = _Py_atomic_load_uint32_relaxed(&op->ob_ref_local);
    v->shared_raw = _Py_atomic_load_ssize_relaxed(&op->ob_ref_shared);
    v->tid = _Py_atomic_load_uintptr_relaxed(&op->ob_tid);
    v->gc_bits = _Py_atomic_load_uint8_relaxed(&op->ob_gc_bits);
    v->immortal = (v->local == UINT32_MAX);
#  if PY_VERSION_HEX >= 0x030E0000
    v->flags = op->ob_flags;
    v->static_immortal = (v->flags & _Py_STATICALLY_ALLOCATED_FLAG) != 0;
#  endif
    v->deferred = (v->gc_bits & MP_GC_BITS_DEFERRED) != 0;
    v->count = v->immortal ? MP_FT_IMMORTAL_REPORTED_COUNT
                           : mp_ft_count(v->local, v->shared_raw);
    v->deferred_bias = v->immortal ? 0 : mp_ft_deferred_bias(v->gc_bits);
    v->effective = v->count - v->deferred_bias;
#elif PY_VERSION_HEX >= 0x030E0000
    v->layout = MP_REFCNT_FLAGS;
    v->word = op->ob_refcnt_full;
    v->low = op->ob_refcnt;
    v->overflow = op->ob_overflow;
    v->flags = op->ob_flags;
    v->high = (uint32_t)((uint64_t)v->word >> 32);
    v->count = (Py_ssize_t)v->low;            /* Py_REFCNT reads the 32 bits */
    v->immortal = v->low >= (1U << 31);
    v->static_immortal = (v->flags & _Py_STATICALLY_ALLOCATED_FLAG) != 0;
#elif PY_VERSION_HEX >= 0x030C0000
    v->layout = MP_REFCNT_SPLIT;
    v->word = op->ob_refcnt;
    v->low = (uint32_t)((uint64_t)v->word & 0xFFFFFFFFu);
    v->high = (uint32_t)((uint64_t)v->word >> 32);
    v->count = op->ob_refcnt;                 /* Py_REFCNT reads the word */
    v->immortal = (int32_t)v->low < 0;
#else
    v->layout = MP_REFCNT_CLASSIC;
    v->word = op->ob_refcnt;
    v->count = op->ob_refcnt;
#endif
#if !MP_FREE_THREADED
    v->effective = v->count;
#endif
}

/* More references to one object than this would need more memory for
 * the pointers than the address space holds in practice. */
#define MP_REFCNT_MOST ((Py_ssize_t)1 << (SIZEOF_VOID_P == 8 ? 40 : 28))

/* Whether the words where an object's reference count would be can be
 * one: on GIL builds (3.12+) a count of at least 1 in the low 32 bits and
 * nothing above but 3.14's flags, where a pointer (an item of an array
 * of objects) has its high bits set; on free-threaded builds a count of
 * at least 1 whose size without the deferred bias is under MP_REFCNT_MOST
 * (a pointer in ob_ref_shared reads as trillions), or immortal. */

static inline int
mp_refcnt_plausible(PyObject *op)
{
#if MP_FREE_THREADED
    /* Read field by field: the census asks this of every block. */
    uint32_t local = _Py_atomic_load_uint32_relaxed(&op->ob_ref_local);
    if (local == UINT32_MAX) {
        return 1;                   /* immortal */
    }
    /* What Py_REFCNT reads is at least 1; without the deferred bias an
     * object only deferred references hold reads 0 or a little less. */
    Py_ssize_t count = mp_ft_count(local, _Py_atomic_load_ssize_relaxed(&op->ob_ref_shared));
    Py_ssize_t effective = count - mp_ft_deferred_bias(_Py_atomic_load_uint8_relaxed(&op->ob_gc_bits));
    return count > 0 && effective < MP_REFCNT_MOST && effective > -MP_REFCNT_MOST;
#else
    mp_refcnt_view v;
    mp_read_refcnt(op, &v);
    switch (v.layout) {
    case MP_REFCNT_SPLIT:
        return v.low != 0 && v.high == 0;
    case MP_REFCNT_FLAGS:
        return v.low != 0 && v.overflow == 0;
    default:
        return v.count > 0;
    }
#endif
}

/* Whether the words before an object of a GC type can be its GC head (GIL
 * builds): untracked, both links are zero but for the finalized flag;
 * tracked, both are addresses (the low bits hold flags: the unreachable
 * and, 3.14, old-space bits of _gc_next; finalized and collecting in
 * _gc_prev).  A small count where _gc_next would be is not a link: an
 * object's items read from inside it look like that. */
static inline int
mp_gc_head_plausible(PyObject *op)
{
#if MP_FREE_THREADED
    (void)op;
    return 1;
#else
    const PyGC_Head *head = (const PyGC_Head *)op - 1;
    uintptr_t next = head->_gc_next, prev = head->_gc_prev;
    if (next == 0) {
        return (prev & ~(uintptr_t)3) == 0;
    }
    return (next & ~(uintptr_t)7) >= 4096 && (prev & ~(uintptr_t)3) >= 4096;
#endif
}

/* ---- Walk caps ------------------------------------------------------------- */

/* More steps than this in a walk of a list means the list loops: 2**32
 * nodes of at least 32 bytes would need 128 GiB.  A 32-bit address space
 * holds fewer than SIZE_MAX / 16 such nodes (and 1 << 32 does not fit its
 * size_t). */
#if SIZE_MAX > 0xFFFFFFFFu
#  define MP_STEP_CAP ((size_t)1 << 32)
#else
#  define MP_STEP_CAP (SIZE_MAX / 16)
#endif

/* ---- GC state ------------------------------------------------------------ */

#define MP_NUM_GENERATIONS 3

static inline struct _gc_runtime_state *
mp_gc_state(PyInterpreterState *interp)
{
    return &interp->gc;
}

/* Where generations[] starts in the GC state.  Debian's 3.13 (from its
 * 3.13.5-1 package: gchead-alignment.diff, the m68k fix of gh-127545, in
 * no upstream release) declares PyGC_Head Py_ALIGNED(1 <<
 * _PyObject_ALIGNMENT_SHIFT), which lowers its alignment to 4 bytes: the
 * array then starts right after the three ints before it (offset 20 on
 * 64-bit builds, not 24).  Nothing else read here moves.  Neither the
 * version nor the headers this extension was built with say which build
 * is running, so layout.c's import check reads both places against
 * gc.get_threshold() and gc.get_count() and sets mp_gc_generations_at;
 * 0 means as compiled.  (Read through the other layout, the list heads'
 * pointer words sit 4 bytes off 8-byte alignment, which x86-64 and
 * aarch64 load as any other; 32-bit builds are not supported.) */
#define MP_GC_GENERATIONS_MAY_MOVE \
    (PY_VERSION_HEX >= 0x030D0000 && PY_VERSION_HEX < 0x030E0000)
extern size_t mp_gc_generations_at;

/* The other place generations[] can start (MP_GC_GENERATIONS_MAY_MOVE):
 * 4-byte aligned when compiled 8-byte aligned, and the reverse. */
#if MP_GC_GENERATIONS_MAY_MOVE
static inline size_t
mp_gc_generations_elsewhere(void)
{
    size_t after_ints = offsetof(struct _gc_runtime_state, debug) + sizeof(int);
    size_t word = sizeof(uintptr_t);
    size_t compiled = offsetof(struct _gc_runtime_state, generations);
    size_t word_aligned = (after_ints + word - 1) & ~(word - 1);
    return compiled == word_aligned ? ((after_ints + 3) & ~(size_t)3) : word_aligned;
}
#endif

/* generations[] of every build but free-threaded 3.14+ (young, old[2]). */
#if !(MP_FREE_THREADED && PY_VERSION_HEX >= 0x030E0000)
static inline struct gc_generation *
mp_gc_generations(PyInterpreterState *interp)
{
    struct _gc_runtime_state *gc = mp_gc_state(interp);
#  if MP_GC_GENERATIONS_MAY_MOVE
    if (mp_gc_generations_at != 0) {
        return (struct gc_generation *)((char *)gc + mp_gc_generations_at);
    }
#  endif
    return gc->generations;
}
#endif

/* Generation thresholds as the collector stores them.  Free-threaded 3.14
 * names the lists young/old[2]; the GIL builds keep generations[3]. */
static inline int
mp_gc_threshold(PyInterpreterState *interp, int generation)
{
#if MP_FREE_THREADED && PY_VERSION_HEX >= 0x030E0000
    struct _gc_runtime_state *gc = mp_gc_state(interp);
    return generation == 0 ? gc->young.threshold
                           : gc->old[generation - 1].threshold;
#else
    return mp_gc_generations(interp)[generation].threshold;
#endif
}

/* The collector's lists (GIL builds).  Index 0-2 are generations[0..2]
 * (on the incremental regime of 3.14.0-3.14.4 the same slots hold young,
 * old[0] and old[1]); index 3 is the permanent generation. */
#define MP_PERMANENT_LIST 3
#define MP_NUM_LISTS 4

/* A generation's count as the collector holds it, no thread's batch added
 * (see mp_gc_count): what a copy of another process's state can say. */
static inline int
mp_gc_count_shared(PyInterpreterState *interp, int generation)
{
#if MP_FREE_THREADED && PY_VERSION_HEX >= 0x030E0000
    struct _gc_runtime_state *gc = mp_gc_state(interp);
    return generation == 0 ? gc->young.count : gc->old[generation - 1].count;
#else
    return mp_gc_generations(interp)[generation].count;
#endif
}

/* Free-threaded 3.14+: where a thread state keeps its batch of allocations
 * not yet added to the young count (_PyThreadStateImpl.gc.alloc_count). */
#if MP_FREE_THREADED && PY_VERSION_HEX >= 0x030E0000
#  define MP_GC_THREAD_BATCHES 1
#  define MP_GC_BATCH_OFFSET offsetof(_PyThreadStateImpl, gc.alloc_count)
#else
#  define MP_GC_THREAD_BATCHES 0
#endif

/* Free-threaded builds count allocations per thread first and add them to
 * the young count in batches; gc.get_count() adds the calling thread's
 * batch before answering (by flushing it: memprobe only reads it). */
static inline int
mp_gc_count(PyInterpreterState *interp, int generation)
{
#if MP_FREE_THREADED && PY_VERSION_HEX >= 0x030E0000
    struct _gc_runtime_state *gc = mp_gc_state(interp);
    if (generation == 0) {
        _PyThreadStateImpl *ts = (_PyThreadStateImpl *)PyThreadState_Get();
        return _Py_atomic_load_int_relaxed(&gc->young.count)
               + (int)ts->gc.alloc_count;
    }
    return gc->old[generation - 1].count;
#else
    return mp_gc_generations(interp)[generation].count;
#endif
}

/* The incremental collector's visited space (0 or 1).  3.14.5+ headers keep
 * the field, renamed dummy2, so the offset is the same. */
static inline int
mp_gc_visited_space(PyInterpreterState *interp)
{
#if PY_VERSION_HEX >= 0x030E0500 && PY_VERSION_HEX < 0x030F0000 \
    && !MP_FREE_THREADED
    return mp_gc_state(interp)->dummy2;
#elif PY_VERSION_HEX >= 0x030E0000 && PY_VERSION_HEX < 0x030F0000 \
    && !MP_FREE_THREADED
    return mp_gc_state(interp)->visited_space;
#else
    (void)interp;
    return 0;
#endif
}

/* Long-lived counters; heap_size exists from 3.14. */
typedef struct {
    Py_ssize_t long_lived_total;
    Py_ssize_t long_lived_pending;
    Py_ssize_t heap_size;          /* -1 when absent */
} mp_gc_counters;

static inline void
mp_gc_counters_get(PyInterpreterState *interp, mp_gc_counters *c)
{
    struct _gc_runtime_state *gc = mp_gc_state(interp);
    c->long_lived_total = gc->long_lived_total;
    c->long_lived_pending = gc->long_lived_pending;
#if PY_VERSION_HEX >= 0x030E0000
    c->heap_size = gc->heap_size;
#else
    c->heap_size = -1;
#endif
}

/* ---- pymalloc's layout: its structures and constants --------------------- */

/* Every GIL build with pymalloc: an arena's entry in the arena table and a
 * pool's header, which memprobe walks in this process (3.12+) or in a copy
 * read from another one (every version).  3.12+ takes them from
 * internal/pycore_obmalloc.h.  3.9-3.11 declare them in Objects/obmalloc.c
 * only (struct arena_object and struct pool_header, the fields 3.12 moved
 * to that header unchanged), so their layout is declared here; a copy's
 * walk checks each header it reads, and the tests compare what it counts
 * with the interpreter's own report. */
#if defined(WITH_PYMALLOC) && !MP_FREE_THREADED
#  define MP_HAVE_POOL_LAYOUT 1
#  if PY_VERSION_HEX >= 0x030C0000
typedef struct arena_object mp_arena;
typedef struct pool_header mp_pool;
#    define MP_ARENA_SIZE ((size_t)ARENA_SIZE)
#    define MP_POOL_SIZE ((size_t)POOL_SIZE)
#    define MP_ALIGNMENT ((size_t)ALIGNMENT)
#    define MP_SMALL_REQUEST_THRESHOLD ((size_t)SMALL_REQUEST_THRESHOLD)
#    define MP_POOL_OVERHEAD ((size_t)POOL_OVERHEAD)
#  else
typedef struct mp_pool {
    union {
        uint8_t *padding;
        unsigned int count;             /* blocks in use */
    } ref;
    uint8_t *freeblock;
    struct mp_pool *nextpool, *prevpool;
    unsigned int arenaindex, szidx, nextoffset, maxnextoffset;
} mp_pool;
typedef struct mp_arena {
    uintptr_t address;                  /* 0: the entry holds no arena */
    uint8_t *pool_address;              /* where the next pool is carved */
    unsigned int nfreepools, ntotalpools;
    mp_pool *freepools;
    struct mp_arena *nextarena, *prevarena;
} mp_arena;
#    define MP_ALIGNMENT ((size_t)(SIZEOF_VOID_P > 4 ? 16 : 8))
#    define MP_SMALL_REQUEST_THRESHOLD ((size_t)512)
/* 3.10 turned on large arenas where addresses are 64-bit, and large
 * pools with them unless built with -DWITH_PYMALLOC_RADIX_TREE=0. */
#    if PY_VERSION_HEX >= 0x030A0000 && SIZEOF_VOID_P > 4
#      define MP_ARENA_SIZE ((size_t)1 << 20)
#      if defined(WITH_PYMALLOC_RADIX_TREE) && !WITH_PYMALLOC_RADIX_TREE
#        define MP_POOL_SIZE ((size_t)1 << 12)
#      else
#        define MP_POOL_SIZE ((size_t)1 << 14)
#      endif
#    else
#      define MP_ARENA_SIZE ((size_t)1 << 18)
#      define MP_POOL_SIZE ((size_t)1 << 12)
#    endif
/* A pool's header, rounded up to the alignment. */
#    define MP_POOL_OVERHEAD \
        ((sizeof(mp_pool) + MP_ALIGNMENT - 1) / MP_ALIGNMENT * MP_ALIGNMENT)
#  endif
#  define MP_MAX_SIZE_CLASSES ((int)(MP_SMALL_REQUEST_THRESHOLD / MP_ALIGNMENT))
/* Most pools an arena can hold. */
#  define MP_MAX_POOLS_PER_ARENA ((unsigned int)(MP_ARENA_SIZE / MP_POOL_SIZE))

/* The size of size class szidx's blocks, and how many a pool holds. */
static inline size_t
mp_block_size(unsigned int szidx)
{
    return ((size_t)szidx + 1) * MP_ALIGNMENT;
}

static inline size_t
mp_pool_capacity(unsigned int szidx)
{
    return (MP_POOL_SIZE - MP_POOL_OVERHEAD) / mp_block_size(szidx);
}

/* An arena's first pool: its start rounded up to a pool boundary (an
 * arena that is not aligned loses a pool's worth, as obmalloc.c and
 * _PyObject_DebugMallocStats count it).  Its pools run from there to
 * its entry's pool_address. */
static inline uintptr_t
mp_first_pool(uintptr_t arena)
{
    return (arena + MP_POOL_SIZE - 1) & ~(uintptr_t)(MP_POOL_SIZE - 1);
}

/* Whether a carved pool holds blocks of a valid size class. */
static inline int
mp_pool_in_use(const mp_pool *pool)
{
    return pool->ref.count > 0 && pool->szidx < MP_MAX_SIZE_CLASSES;
}
#else
#  define MP_HAVE_POOL_LAYOUT 0
#endif

/* ---- pymalloc compiled constants ----------------------------------------- */

typedef struct {
    int compiled_in;             /* WITH_PYMALLOC */
    long arena_size;
    long pool_size;
    long alignment;
    long small_request_threshold;
    long size_classes;
    long pool_overhead;          /* POOL_OVERHEAD: the header of each pool */
} mp_pymalloc_constants;

static inline void
mp_pymalloc_constants_get(mp_pymalloc_constants *c)
{
    memset(c, 0, sizeof(*c));
    /* Free-threaded builds compile pymalloc in but never use it. */
#if MP_HAVE_POOL_LAYOUT
    c->compiled_in = 1;
    c->arena_size = (long)MP_ARENA_SIZE;
    c->pool_size = (long)MP_POOL_SIZE;
    c->alignment = (long)MP_ALIGNMENT;
    c->small_request_threshold = (long)MP_SMALL_REQUEST_THRESHOLD;
    c->size_classes = (long)MP_MAX_SIZE_CLASSES;
    c->pool_overhead = (long)MP_POOL_OVERHEAD;
#endif
}

/* ---- pymalloc's state: reachable in this process (3.12+) ----------------- */

/* Before 3.12 the state is file-static in Objects/obmalloc.c: memprobe then
 * reads the interpreter's own report (_PyObject_DebugMallocStats) instead. */
#if PY_VERSION_HEX >= 0x030C0000 && MP_HAVE_POOL_LAYOUT
#  define MP_HAVE_OBMALLOC_STATE 1
typedef struct _obmalloc_state mp_obmalloc_state;

/* The state that serves the interpreter's allocations.  3.13+ points a
 * legacy subinterpreter (Py_RTFLAGS_USE_MAIN_OBMALLOC) at the main
 * interpreter's state; 3.12 embeds a state in every interpreter and sends
 * such a subinterpreter's allocations to the main one's (obmalloc.c:
 * has_own_state), leaving its own empty. */
static inline mp_obmalloc_state *
mp_obmalloc(PyInterpreterState *interp)
{
#  if PY_VERSION_HEX >= 0x030D0000
    return interp->obmalloc;
#  else
    PyInterpreterState *main = PyInterpreterState_Main();
    if (interp != main && (interp->feature_flags & Py_RTFLAGS_USE_MAIN_OBMALLOC)) {
        return &main->obmalloc;
    }
    return &interp->obmalloc;
#  endif
}
/* Whether interp is a legacy subinterpreter whose allocations go to the
 * main interpreter's state, which it then shares with it. */
static inline int
mp_obmalloc_shared(PyInterpreterState *interp)
{
    PyInterpreterState *main = PyInterpreterState_Main();
#  if PY_VERSION_HEX >= 0x030D0000
    return interp != main && interp->obmalloc == main->obmalloc;
#  else
    return interp != main && (interp->feature_flags & Py_RTFLAGS_USE_MAIN_OBMALLOC);
#  endif
}
/* Where, in the process an interpreter state was copied from, its
 * allocator state's mgmt sits: copy is the state as copied from address
 * (3.13+ points to the allocator state, 3.12 embeds it). */
static inline uintptr_t
mp_obmalloc_mgmt_at(const PyInterpreterState *copy, uintptr_t address)
{
#  if PY_VERSION_HEX >= 0x030D0000
    (void)address;
    return (uintptr_t)copy->obmalloc + offsetof(mp_obmalloc_state, mgmt);
#  else
    (void)copy;
    return address + offsetof(PyInterpreterState, obmalloc)
           + offsetof(mp_obmalloc_state, mgmt);
#  endif
}

#else
#  define MP_HAVE_OBMALLOC_STATE 0
#endif

/* ---- pymalloc's state in another process (remote.c) ---------------------- */

/* The address of a copied interpreter state's sys.modules dict. */
static inline uintptr_t
mp_interp_modules(const PyInterpreterState *copy)
{
#if PY_VERSION_HEX >= 0x030C0000
    return (uintptr_t)copy->imports.modules;
#else
    return (uintptr_t)copy->modules;
#endif
}

#if MP_HAVE_POOL_LAYOUT && !MP_HAVE_OBMALLOC_STATE
/* 3.9-3.11: pymalloc's state is Objects/obmalloc.c's file-static
 * variables, which only a build's full symbol table (.symtab, gone once
 * stripped) names.  X(name, type) for each that attach reads, in the
 * order _remote_pymalloc takes their addresses.  _PyObject is the object
 * domain's allocator (its ctx: NULL for pymalloc, a hook's otherwise);
 * _PyMem_Debug is the debug layer's three allocators (mp_debug_apis), the
 * object one's ctx being &_PyMem_Debug.obj. */
typedef struct {
    char api_id;
    PyMemAllocatorEx alloc;
} mp_debug_api;
typedef struct {
    mp_debug_api raw, mem, obj;
} mp_debug_apis;
#  define MP_OBMALLOC_STATICS(X) \
    X(arenas, mp_arena *) \
    X(maxarenas, unsigned int) \
    X(ntimes_arena_allocated, size_t) \
    X(narenas_highwater, size_t) \
    X(raw_allocated_blocks, Py_ssize_t) \
    X(_PyObject, PyMemAllocatorEx) \
    X(_PyMem_Debug, mp_debug_apis)
#else
#  define MP_OBMALLOC_STATICS(X)
#endif

/* Bytes an object's memory block holds before the object itself (3.12+):
 * the GC head, and the managed dict/weakref pointers. */
static inline Py_ssize_t
mp_preheader_size(PyTypeObject *tp)
{
    Py_ssize_t size = 0;
#if !MP_FREE_THREADED
    if (PyType_IS_GC(tp)) {
        size += (Py_ssize_t)sizeof(PyGC_Head);
    }
#endif
#if PY_VERSION_HEX >= 0x030C0000
    if (tp->tp_flags & (Py_TPFLAGS_MANAGED_DICT | Py_TPFLAGS_MANAGED_WEAKREF)) {
        size += 2 * (Py_ssize_t)sizeof(PyObject *);
    }
#endif
    return size;
}

/* Blocks handed out by the pymalloc_debug layer start this many bytes
 * before the pointer callers see (size and API id words). */
#define MP_DEBUG_FRONT_BYTES (2 * (Py_ssize_t)sizeof(size_t))

#ifdef PYMEM_FORBIDDENBYTE      /* declared where memprobe reads blocks (3.11+) */
/* The API id ('o' for objects, 'm' for PyMem) when the size bytes at
 * block begin with the debug layer's front words (a size_t, then the id
 * and PYMEM_FORBIDDENBYTE padding), else 0.  Where an object starts, those
 * bytes never read so (a type or a GC link, or on free-threaded builds
 * flags, lock, gc bits and a local count of 0xFDFDFDFD). */
static inline int
mp_debug_api_id(const unsigned char *block, size_t size)
{
    if (size < (size_t)MP_DEBUG_FRONT_BYTES) {
        return 0;
    }
    const unsigned char *id = block + sizeof(size_t);
    if (id[0] != 'o' && id[0] != 'm') {
        return 0;
    }
    for (size_t i = 1; i < sizeof(size_t); i++) {
        if (id[i] != PYMEM_FORBIDDENBYTE) {
            return 0;
        }
    }
    return id[0];
}
#endif

/* The count behind sys.getallocatedblocks(), where an extension can call
 * it (before 3.12); -1 from 3.12, where only sys.getallocatedblocks()
 * reaches it. */
static inline Py_ssize_t
mp_allocated_blocks(void)
{
#if PY_VERSION_HEX < 0x030C0000
    return _Py_GetAllocatedBlocks();
#else
    return -1;
#endif
}

/* ---- A type's dict in another process (remote.c's census) --------------- */

/* A dict's keys table, then its index table, then dk_nentries entries;
 * a heap type's dict holds its __module__.  3.11+ declare the table in
 * internal/pycore_dict.h, its entries (key, value) in a table of str keys
 * only and (hash, key, value) otherwise; 3.9-3.10 keep it in
 * Objects/dict-common.h, which is not installed, so its layout is
 * declared here (entries always (hash, key, value), index entries as wide
 * as the table's size needs). */
#if PY_VERSION_HEX >= 0x030B0000
#  include "internal/pycore_dict.h"
typedef PyDictKeysObject mp_dict_keys;

static inline size_t
mp_dict_index_bytes(const mp_dict_keys *k)
{
    return k->dk_log2_index_bytes < 8 * sizeof(size_t)
        ? (size_t)1 << k->dk_log2_index_bytes : SIZE_MAX;
}

static inline int
mp_dict_general(const mp_dict_keys *k)
{
    return k->dk_kind == DICT_KEYS_GENERAL;
}
#  define MP_DICT_ENTRY(general) \
    ((general) ? sizeof(PyDictKeyEntry) : sizeof(PyDictUnicodeEntry))
#  define MP_DICT_KEY_AT(general) ((general) \
    ? offsetof(PyDictKeyEntry, me_key) : offsetof(PyDictUnicodeEntry, me_key))
#  define MP_DICT_VALUE_AT(general) ((general) \
    ? offsetof(PyDictKeyEntry, me_value) : offsetof(PyDictUnicodeEntry, me_value))
#else
typedef struct {
    Py_ssize_t dk_refcnt;
    Py_ssize_t dk_size;
    void *dk_lookup;
    Py_ssize_t dk_usable;
    Py_ssize_t dk_nentries;
    char dk_indices[];
} mp_dict_keys;

typedef struct {
    Py_hash_t me_hash;
    PyObject *me_key;
    PyObject *me_value;
} mp_dict_entry;

static inline size_t
mp_dict_index_bytes(const mp_dict_keys *k)
{
    size_t n = (size_t)k->dk_size;
    size_t width = n <= 0xff ? 1 : n <= 0xffff ? 2 : n <= 0xffffffffu ? 4 : 8;
    return n <= SIZE_MAX / 8 ? n * width : SIZE_MAX;
}

static inline int
mp_dict_general(const mp_dict_keys *k)
{
    (void)k;
    return 1;
}
#  define MP_DICT_ENTRY(general) ((void)(general), sizeof(mp_dict_entry))
#  define MP_DICT_KEY_AT(general) \
    ((void)(general), offsetof(mp_dict_entry, me_key))
#  define MP_DICT_VALUE_AT(general) \
    ((void)(general), offsetof(mp_dict_entry, me_value))
#endif

/* ---- mimalloc heaps (3.13+) ---------------------------------------------- */

/* mimalloc serves every allocation on free-threaded builds and, on request
 * (PYTHONMALLOC=mimalloc), on default builds from 3.13.  CPython vendors it
 * and exports none of its functions, so memprobe reads its structures
 * through the installed internal/mimalloc headers, using only their inline
 * helpers.  Two vendored generations differ in the page fields read here:
 * mimalloc 2.1 (3.13, 3.14.0-3.14.7) and 2.5 (later 3.14 releases, 3.15). */
#if PY_VERSION_HEX >= 0x030D0000 && defined(WITH_MIMALLOC)
#  define MP_HAVE_MIMALLOC 1
#  include "internal/pycore_tstate.h"   /* _PyThreadStateImpl.mimalloc */
#  include "internal/pycore_pystate.h"  /* _PyEval_StopTheWorld */

/* Where the slices of a page start: the page's header sits at `at` among
 * its segment's slice headers, in this process or in another one (remote
 * readers hold a copy of the header, and its address there). */
static inline uintptr_t
mp_mi_slices_start(uintptr_t at)
{
    uintptr_t segment = at & ~(uintptr_t)MI_SEGMENT_MASK;
    size_t index = (at - segment - offsetof(mi_segment_t, slices))
                   / sizeof(mi_slice_t);
    return segment + index * MI_SEGMENT_SLICE_SIZE;
}

#  if MI_MALLOC_VERSION >= 20500
#    define MP_MI_PAGE_TAG(page) ((page)->heap_tag)
static inline size_t
mp_mi_block_size(const mi_page_t *page)
{
    return page->block_size;
}

static inline uintptr_t
mp_mi_page_start(const mi_page_t *page, uintptr_t at)
{
    (void)at;
    return (uintptr_t)page->page_start;
}
#  else
#    define MP_MI_PAGE_TAG(page) ((page)->tag)
/* Huge pages store no size (mi_page_block_size asks a function CPython does
 * not export): their one block spans the page. */
static inline size_t
mp_mi_block_size(const mi_page_t *page)
{
    size_t size = page->xblock_size;
    return size < MI_HUGE_BLOCK_SIZE
        ? size : (size_t)page->slice_count * MI_SEGMENT_SLICE_SIZE;
}

/* The first block of the page whose header (page, a copy) sits at `at`:
 * mimalloc 2.1 starts blocks of up to 64 bytes three blocks in, and blocks
 * of up to 512 bytes one block in, so that pages do not all begin on an OS
 * page boundary (mimalloc's _mi_segment_page_start, unexported before 2.5,
 * which keeps the start in the page). */
static inline uintptr_t
mp_mi_page_start(const mi_page_t *page, uintptr_t at)
{
    size_t size = page->xblock_size, offset = 0;
    if (size >= MI_INTPTR_SIZE && size <= 64) {
        offset = 3 * size;
    }
    else if (size >= MI_INTPTR_SIZE && size <= 512) {
        offset = size;
    }
    return mp_mi_slices_start(at) + offset;
}
#  endif

/* The abandoned pool of free-threaded builds on mimalloc 2.1 is a pair of
 * segment lists in the interpreter; mimalloc 2.5 keeps abandoned segments
 * in its (unexported) arenas, out of memprobe's reach. */
#  if MP_FREE_THREADED && MI_MALLOC_VERSION < 20500
#    define MP_MI_ABANDONED_POOL 1
static inline mi_segment_t *
mp_mi_abandoned_list(PyInterpreterState *interp, int visited)
{
    mi_abandoned_pool_t *pool = &interp->mimalloc.abandoned_pool;
    if (visited) {
        return mi_atomic_load_ptr_relaxed(mi_segment_t, &pool->abandoned_visited);
    }
    uintptr_t tagged = mi_atomic_load_relaxed(&pool->abandoned);
    return (mi_segment_t *)(tagged & ~MI_SEGMENT_MASK);
}
#  else
#    define MP_MI_ABANDONED_POOL 0
#  endif

/* Thread states this interpreter has made, alive or ended (3.13+: the
 * last unique id given, counting from 1). */
static inline uint64_t
mp_thread_states_made(PyInterpreterState *interp)
{
    return interp->threads.next_unique_id;
}

/* Pauses every other thread of the interpreter (free-threaded 3.14+; the
 * function is not exported by 3.13).  On default builds the GIL already
 * keeps other threads out of the allocator. */
#  if MP_FREE_THREADED && PY_VERSION_HEX >= 0x030E0000
#    define MP_CAN_STOP_THE_WORLD 1
#    define mp_stop_the_world(interp) _PyEval_StopTheWorld(interp)
#    define mp_start_the_world(interp) _PyEval_StartTheWorld(interp)
#  else
#    define MP_CAN_STOP_THE_WORLD !MP_FREE_THREADED
#    define mp_stop_the_world(interp) ((void)(interp))
#    define mp_start_the_world(interp) ((void)(interp))
#  endif
#else
#  define MP_HAVE_MIMALLOC 0
#endif

/* ---- Debug offsets (3.13+) ------------------------------------------------ */

/* The offsets the running interpreter publishes about itself (layout.c
 * compares them with what this extension was compiled for).  3.14 added
 * the GC state's offsets. */
#if PY_VERSION_HEX >= 0x030D0000
#  define MP_HAVE_DEBUG_OFFSETS 1
static inline const _Py_DebugOffsets *
mp_debug_offsets(void)
{
    return &_PyRuntime.debug_offsets;
}
#else
#  define MP_HAVE_DEBUG_OFFSETS 0
#endif
#define MP_HAVE_GC_DEBUG_OFFSETS (PY_VERSION_HEX >= 0x030E0000)

/* ---- Allocator ------------------------------------------------------------ */

/* "pymalloc", "malloc", "mimalloc", their "_debug" forms, or NULL when hooks
 * (tracemalloc, a user's PyMem_SetAllocator) have replaced them. */
static inline const char *
mp_allocator_name(void)
{
    return _PyMem_GetCurrentAllocatorName();
}

/* Writes the interpreter's own allocator statistics report into out.
 * Declared in a different header on almost every version, exported on all. */
static inline int
mp_debug_malloc_stats(FILE *out)
{
    return _PyObject_DebugMallocStats(out);
}

#endif /* MEMPROBE_COMPAT_H */
