/* blocks.c: the allocator's in-use blocks counted by the type of the
 * object each one holds, and per arena (mimalloc: segment) what holds it:
 * pymalloc from 3.12, mimalloc (free-threaded builds, PYTHONMALLOC=mimalloc)
 * from 3.13.
 *
 * pymalloc: reads the calling interpreter's struct _obmalloc_state
 * (mgmt.arenas[]: address, pool_address) and, in each carved pool that is
 * in use, its header (ref.count, szidx, nextoffset, freeblock) and the free
 * list threaded through its free blocks.  A block is in use when it is
 * carved (below nextoffset) and not on the free list; a pool whose free
 * list leaves it, loops, or disagrees with ref.count is not read further
 * and is counted as unreadable.
 *
 * mimalloc: the segments that hold the pages of the interpreter's heaps
 * (mimalloc.c finds them), each read slice by slice in address order with
 * other threads paused; in each page (mi_page_t: capacity, used, the free,
 * local_free and xthread_free lists, the block size and first block from
 * compat.h) a block below capacity is in use when it is on none of the
 * three lists, and a page whose lists leave it, loop, or disagree with
 * used is counted as unreadable.  On free-threaded builds a page's heap
 * tag says what it may hold: the "mem" heap no objects (PyMem_Malloc's
 * arrays live there), the object heap objects the collector does not
 * track, the two GC heaps tracked ones without and with a pre-header.
 *
 * An in-use block holds an object when, after the debug layer's front
 * words (pymalloc_debug, mimalloc_debug) and the pre-header a type implies
 * (GC head, managed dict/weakref: mp_preheader_size), the word where
 * ob_type would be is one of the known live types, that type implies
 * exactly that pre-header, its basic size fits the block, the reference
 * count word holds a count (not a pointer: arrays of objects, such as a
 * list's items, hold type pointers too), and the object's own size fields
 * (int digits, str length, tuple and bytes items) fit, and a GC type's
 * head holds links, neither of which is a known type.  A candidate type
 * pointer is compared with the known types and never dereferenced
 * otherwise.  The known types are gathered first, and held until the
 * walk ends (the counted ones until the reading is released), from the
 * collector's lists (every tracked object's
 * type and every type object tracked there, with their MROs), the builtin
 * static types whose instances are not tracked, and every type reachable
 * from object through type.__subclasses__ (extension types such as
 * datetime.date).  Other in-use blocks (dict keys, list item arrays,
 * instances of types not known) are counted apart, not guessed at, and so
 * are memprobe's own results.  Everything is counted into raw memory
 * before any Python object is built; the GIL is held throughout.
 */
#include "parts.h"
#include "mimalloc.h"

#define MP_HAVE_BLOCK_CENSUS (MP_HAVE_OBMALLOC_STATE || MP_HAVE_MIMALLOC)

#if MP_HAVE_BLOCK_CENSUS

typedef struct {
    PyTypeObject *type;
    size_t blocks, bytes, arenas;
    unsigned int last_arena;        /* the arena counted last, + 1 */
    size_t in_arena;                /* blocks in that arena */
    size_t in_pool;                 /* blocks in the pool being read */
    unsigned char own;              /* 0: not asked yet, 1: no, 2: memprobe's result type */
} type_slot;

typedef struct {
    type_slot *slots;               /* PyMem_Raw, open addressing by type */
    size_t mask, used;
} type_table;

/* (arena, type, blocks): who holds each arena. */
typedef struct {
    unsigned int arena;
    size_t slot;
    size_t blocks;
} holder;

/* (arena, pool number in it, type, blocks, objects): a pool's most common
 * type (slot, or NO_SLOT when the pool holds no object of a known type),
 * its blocks, and the pool's blocks that hold objects of known types. */
#define NO_SLOT ((size_t)-1)
typedef struct {
    unsigned int arena;
    size_t number;
    size_t slot;
    size_t blocks;
    size_t objects;
} pool_row;

typedef struct {
    type_table types;
    holder *holders;                /* PyMem_Raw, grown as needed */
    size_t nholders, holders_room;
    const char *allocator;          /* "pymalloc" or "mimalloc" */
    uintptr_t *arena_address;       /* by arena (segment) index */
    size_t narenas, arenas_room;
    unsigned int walking;           /* the arena (segment) being read */
    size_t other_blocks, other_bytes, unreadable_pools;
    size_t own_blocks, own_bytes;   /* memprobe's own results */
    PyObject *own_types;            /* borrowed: no Python code runs */
    int per_pool;                   /* asked for pool rows */
    int walked;                     /* only the types counted are held */
    /* A pool's or page's blocks: which are free, and the type slots its
     * objects touched (PyMem_Raw, max_blocks each). */
    unsigned char *is_free;
    type_slot **touched;
    size_t max_blocks;
    /* Neighbouring blocks mostly hold objects of one type: the last type
     * found and its slot, looked up first. */
    PyTypeObject *last_type;
    type_slot *last_slot;
    pool_row *pools;                /* PyMem_Raw, grown as needed */
    size_t npools, pools_room;
} block_census;

static type_slot *
slot_of(type_table *t, PyTypeObject *type)
{
    size_t i = mp_hash_pointer(type, t->mask);
    while (t->slots[i].type != NULL && t->slots[i].type != type) {
        i = (i + 1) & t->mask;
    }
    return &t->slots[i];
}

/* Adds a known type, held (on free-threaded builds other threads run
 * between the gathering and the walk; see held()): 0, or -1 when memory
 * ran out. */
static int
know(type_table *t, PyTypeObject *type)
{
    type_slot *slot = slot_of(t, type);
    if (slot->type != NULL) {
        return 0;
    }
    if (2 * (t->used + 1) > t->mask + 1) {
        type_table bigger = {PyMem_RawCalloc(2 * (t->mask + 1), sizeof(type_slot)),
                             2 * (t->mask + 1) - 1, t->used};
        if (bigger.slots == NULL) {
            return -1;
        }
        for (size_t i = 0; i <= t->mask; i++) {
            if (t->slots[i].type != NULL) {
                *slot_of(&bigger, t->slots[i].type) = t->slots[i];
            }
        }
        PyMem_RawFree(t->slots);
        *t = bigger;
        slot = slot_of(t, type);
    }
    slot->type = (PyTypeObject *)Py_NewRef((PyObject *)type);
    t->used++;
    return 0;
}

/* A type and every type of its MRO. */
static int
know_with_mro(type_table *t, PyTypeObject *type)
{
    if (slot_of(t, type)->type != NULL) {
        return 0;
    }
    if (know(t, type) < 0) {
        return -1;
    }
    PyObject *mro = type->tp_mro;
    for (Py_ssize_t i = 0; mro != NULL && PyTuple_Check(mro)
                           && i < PyTuple_GET_SIZE(mro); i++) {
        PyObject *base = PyTuple_GET_ITEM(mro, i);
        if (PyType_Check(base) && know(t, (PyTypeObject *)base) < 0) {
            return -1;
        }
    }
    return 0;
}

typedef struct {
    type_table *types;
    int failed;
} gathering;

static int
know_tracked(PyObject *op, int list, void *arg)
{
    (void)list;
    gathering *g = arg;
    if (know_with_mro(g->types, Py_TYPE(op)) < 0
        || (PyType_Check(op) && know_with_mro(g->types, (PyTypeObject *)op) < 0)) {
        g->failed = 1;
        return 1;                   /* stops the visit */
    }
    return 0;
}

/* Builtin types whose instances the collector does not track. */
static PyTypeObject *const untracked_types[] = {
    &PyLong_Type, &PyBool_Type, &PyFloat_Type, &PyComplex_Type,
    &PyUnicode_Type, &PyBytes_Type, &PyByteArray_Type, &PyTuple_Type,
    &PyRange_Type, &PySlice_Type, &PyMemoryView_Type, &PyCapsule_Type,
    &PyBaseObject_Type, &PyCFunction_Type, &PyProperty_Type,
    &PyDictKeys_Type, &PyDictValues_Type, &PyDictItems_Type,
    &PyLongRangeIter_Type, &PyRangeIter_Type, &PyCode_Type,
};

/* A PyMem_Raw array of `used` items of `size` bytes with room for one
 * more: `items` itself, or grown (doubled when full, `first` items at
 * first); NULL when memory ran out (`items` is then unchanged). */
static void *
room_for_one(void *items, size_t *room, size_t used, size_t size,
             size_t first)
{
    if (used < *room) {
        return items;
    }
    size_t more = *room ? 2 * *room : first;
    void *grown = PyMem_RawRealloc(items, more * size);
    if (grown != NULL) {
        *room = more;
    }
    return grown;
}

/* Every type reachable from object through type.__subclasses__ (called
 * through type's own descriptor: no metaclass's code runs), so that static
 * types of extension modules whose instances are not tracked (datetime.date)
 * are known too.  Each list is freed at once: the types in it were alive
 * before it (their subclass entries are weak references), and stay so.
 * 0, or -1 with an error set. */
static int
know_subclasses(type_table *t)
{
    PyObject *name = PyUnicode_InternFromString("__subclasses__");
    if (name == NULL) {
        return -1;
    }
    /* type's own method (static types keep no tp_dict from 3.12). */
    PyObject *subclasses = _PyType_Lookup(&PyType_Type, name);  /* borrowed */
    Py_DECREF(name);
    if (subclasses == NULL) {
        return 0;
    }
    size_t room = 256, n = 0;
    PyTypeObject **stack = PyMem_RawMalloc(room * sizeof(PyTypeObject *));
    if (stack == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    stack[n++] = &PyBaseObject_Type;
    int rc = 0;
    while (n > 0 && rc == 0) {
        PyObject *list = PyObject_CallOneArg(subclasses, (PyObject *)stack[--n]);
        if (list == NULL || !PyList_Check(list)) {
            Py_XDECREF(list);
            rc = -1;
            break;
        }
        for (Py_ssize_t i = 0; rc == 0 && i < PyList_GET_SIZE(list); i++) {
            PyObject *sub = PyList_GET_ITEM(list, i);
            if (!PyType_Check(sub) || slot_of(t, (PyTypeObject *)sub)->type != NULL) {
                continue;
            }
            if (know(t, (PyTypeObject *)sub) < 0) {
                PyErr_NoMemory();
                rc = -1;
                break;
            }
            PyTypeObject **more = room_for_one(stack, &room, n, sizeof(*stack), 256);
            if (more == NULL) {
                PyErr_NoMemory();
                rc = -1;
                break;
            }
            stack = more;
            stack[n++] = (PyTypeObject *)sub;
        }
        Py_DECREF(list);
    }
    PyMem_RawFree(stack);
    return rc;
}

static int
gather_types(mp_state *st, type_table *t)
{
    t->slots = PyMem_RawCalloc(1024, sizeof(type_slot));
    t->mask = 1023;
    t->used = 0;
    if (t->slots == NULL) {
        return -1;
    }
    for (size_t i = 0; i < sizeof(untracked_types) / sizeof(untracked_types[0]); i++) {
        if (know(t, untracked_types[i]) < 0) {
            return -1;
        }
    }
    gathering g = {t, 0};
    if (mp_gc_visit(st, MP_EVERY_LIST, know_tracked, &g) < 0) {
        return -1;
    }
    if (g.failed) {
        return -1;
    }
    /* The calls below allocate lists: no automatic collection may free a
     * type already known (or run a finalizer) meanwhile. */
    int was_enabled = PyGC_Disable();
    int rc = know_subclasses(t);
    if (was_enabled) {
        PyGC_Enable();
    }
    return rc;
}

/* The fewest bytes an instance of type takes: its basic size, but a
 * compact str is smaller than str's (which is a full PyUnicodeObject). */
static size_t
smallest_instance(PyTypeObject *type)
{
    return type == &PyUnicode_Type ? sizeof(PyASCIIObject)
                                   : (size_t)type->tp_basicsize;
}

/* Whether the object at op, of a known type, fits in `room` bytes by its
 * own size fields: an int's digits, a compact str's length and kind, the
 * items of other variable-size objects (tuple, bytes). */
static int
fits(PyObject *op, PyTypeObject *type, size_t room)
{
    if (PyType_FastSubclass(type, Py_TPFLAGS_LONG_SUBCLASS)) {
        uintptr_t tag = ((PyLongObject *)op)->long_value.lv_tag;
        size_t digits = (size_t)(tag >> MP_LONG_NON_SIZE_BITS);
        return (tag & 3) != 3 && digits <= room
               && offsetof(PyLongObject, long_value.ob_digit)
                  + (digits ? digits : 1) * sizeof(digit) <= room;
    }
    if (PyType_FastSubclass(type, Py_TPFLAGS_UNICODE_SUBCLASS)) {
        if (type != &PyUnicode_Type) {
            return 1;   /* a subclass's instance: a whole PyUnicodeObject */
        }
        PyASCIIObject *s = (PyASCIIObject *)op;
        unsigned int kind = s->state.kind;
        if (!s->state.compact || (kind != 1 && kind != 2 && kind != 4)
            || (s->state.ascii && kind != 1) || s->length < 0
            || (size_t)s->length > room) {
            return 0;
        }
        size_t header = s->state.ascii ? sizeof(PyASCIIObject)
                                       : sizeof(PyCompactUnicodeObject);
        return header + ((size_t)s->length + 1) * kind <= room;
    }
    if (PyType_FastSubclass(type, Py_TPFLAGS_TUPLE_SUBCLASS | Py_TPFLAGS_BYTES_SUBCLASS)) {
        Py_ssize_t n = Py_SIZE(op);
        return n >= 0 && (size_t)n <= room
               && (size_t)type->tp_basicsize + (size_t)n * (size_t)type->tp_itemsize
                  <= room;
    }
    return 1;
}

/* Whether the words before op, taken for its GC head, can be one: links
 * as mp_gc_head_plausible() has them, neither of which is a known type.
 * A GC head links GC heads, never type objects; an object's own count
 * and type read as a head would have its type as _gc_prev.  (3.14+
 * freelists put their link where the count was: a freed builtin method
 * bound to class M, read one GC head further on, has a static
 * PyMethodDef's address, under 4 GiB and so a plausible count, where an
 * M's count would be and M where its type would be.) */
static int
gc_head_plausible(block_census *c, PyObject *op)
{
    if (!mp_gc_head_plausible(op)) {
        return 0;
    }
#if MP_FREE_THREADED
    (void)c;
    return 1;
#else
    const PyGC_Head *head = (const PyGC_Head *)op - 1;
    PyTypeObject *next = (PyTypeObject *)(head->_gc_next & ~(uintptr_t)7);
    PyTypeObject *prev = (PyTypeObject *)(head->_gc_prev & ~(uintptr_t)3);
    return (next == NULL || slot_of(&c->types, next)->type == NULL)
           && (prev == NULL || slot_of(&c->types, prev)->type == NULL);
#endif
}

/* The object an in-use block of `size` bytes at `block` holds, or NULL. */
static PyObject *
object_in(block_census *c, uintptr_t block, size_t size)
{
    /* The debug layer's front words, read from each block (under hooks
     * the allocator's name no longer says whether the layer is there). */
    size_t front = 0;
    int api = mp_debug_api_id((const unsigned char *)block, size);
    if (api == 'm') {
        return NULL;                /* PyMem_Malloc's block */
    }
    if (api == 'o') {
        front = (size_t)MP_DEBUG_FRONT_BYTES;
    }
    /* In increasing order: the lowest offset that holds an object wins,
     * since one at a higher offset would lie inside it (a tuple whose
     * first item is a class reads, one GC head further on, as an instance
     * of that class). */
    static const size_t preheaders[] = {
        0, 2 * sizeof(PyObject *), sizeof(PyGC_Head),
        sizeof(PyGC_Head) + 2 * sizeof(PyObject *),
    };
    size_t n = sizeof(preheaders) / sizeof(preheaders[0]);
    for (size_t k = 0; k < n; k++) {
        size_t preheader = preheaders[k];
        if (k > 0 && preheader == preheaders[k - 1]) {
            continue;               /* the same offset on this platform */
        }
        size_t at = front + preheader;
        if (at + sizeof(PyObject) > size) {
            break;
        }
        PyObject *op = (PyObject *)(block + at);
        PyTypeObject *type = op->ob_type;
        type_slot *slot = type == c->last_type && type != NULL
                          ? c->last_slot : slot_of(&c->types, type);
        if (slot->type == NULL) {
            continue;               /* not a known type: not looked at */
        }
        if ((size_t)mp_preheader_size(type) != preheader) {
            continue;
        }
        /* A known type where its own pre-header puts its header: this
         * block's object, live or not.  A dead one (on a freelist: count
         * 0, fields kept) is not looked into further, where a field and a
         * dangling pointer would read as an object of another type. */
        if (at + smallest_instance(type) <= size
            && mp_refcnt_plausible(op) && fits(op, type, size - at)
            && (!PyType_IS_GC(type) || gc_head_plausible(c, op))) {
            c->last_type = type;
            c->last_slot = slot;
            return op;
        }
        return NULL;
    }
    return NULL;
}

static int
add_holder(block_census *c, unsigned int arena, size_t slot, size_t blocks)
{
    holder *holders = room_for_one(c->holders, &c->holders_room, c->nholders,
                                   sizeof(holder), 256);
    if (holders == NULL) {
        return -1;
    }
    c->holders = holders;
    c->holders[c->nholders++] = (holder){arena, slot, blocks};
    return 0;
}

/* The in-use blocks of one pool or page hold objects of these kinds. */
enum {ANY_OBJECTS, NO_OBJECTS, UNTRACKED_OBJECTS, TRACKED_OBJECTS};

/* The pool's most common type among the slots it touched, as a row; the
 * touched slots' pool counts go back to 0.  0, or -1 when memory ran out. */
static int
add_pool_row(block_census *c, unsigned int arena, size_t number,
             size_t ntouched)
{
    pool_row row = {arena, number, NO_SLOT, 0, 0};
    for (size_t i = 0; i < ntouched; i++) {
        type_slot *slot = c->touched[i];
        row.objects += slot->in_pool;
        if (slot->in_pool > row.blocks) {
            row.blocks = slot->in_pool;
            row.slot = (size_t)(slot - c->types.slots);
        }
        slot->in_pool = 0;
    }
    if (!c->per_pool) {
        return 0;
    }
    pool_row *pools = room_for_one(c->pools, &c->pools_room, c->npools,
                                   sizeof(pool_row), 1024);
    if (pools == NULL) {
        return -1;
    }
    c->pools = pools;
    c->pools[c->npools++] = row;
    return 0;
}

/* Whether an object of this type may sit where objects of `kind` live. */
static int
kind_allows(int kind, PyTypeObject *type)
{
    switch (kind) {
    case NO_OBJECTS:
        return 0;
    case UNTRACKED_OBJECTS:
        return !PyType_IS_GC(type);
    case TRACKED_OBJECTS:
        return PyType_IS_GC(type);
    default:
        return 1;
    }
}

/* The `nblocks` blocks of `size` bytes from `first` of one pool or page,
 * numbered `number` in arena (segment) `arena`, counted by what each holds;
 * c->is_free marks those not in use.  0, or -1 when memory ran out. */
static int
count_blocks(block_census *c, uintptr_t first, size_t size, size_t nblocks,
             unsigned int arena, size_t number, int kind)
{
    size_t ntouched = 0;
    for (size_t i = 0; i < nblocks; i++) {
        if (c->is_free[i]) {
            continue;
        }
        PyObject *op = kind == NO_OBJECTS ? NULL
                       : object_in(c, first + i * size, size);
        if (op == NULL || !kind_allows(kind, Py_TYPE(op))) {
            c->other_blocks++;
            c->other_bytes += size;
            continue;
        }
        type_slot *slot = c->last_slot;    /* object_in's: op's type */
        if (slot->own == 0) {
            slot->own = mp_is_own_type(c->own_types, Py_TYPE(op)) ? 2 : 1;
        }
        if (slot->own == 2) {
            c->own_blocks++;
            c->own_bytes += size;
            continue;
        }
        if (slot->last_arena != arena + 1) {
            slot->last_arena = arena + 1;
            slot->in_arena = 0;
            slot->arenas++;
        }
        slot->blocks++;
        slot->bytes += size;
        slot->in_arena++;
        if (slot->in_pool++ == 0) {
            c->touched[ntouched++] = slot;
        }
    }
    return add_pool_row(c, arena, number, ntouched);
}

/* Each type's blocks in the arena just walked, as holders. */
static int
flush_arena(block_census *c, unsigned int arena)
{
    for (size_t s = 0; s <= c->types.mask; s++) {
        type_slot *slot = &c->types.slots[s];
        if (slot->type != NULL && slot->last_arena == arena + 1
            && slot->in_arena > 0) {
            if (add_holder(c, arena, s, slot->in_arena) < 0) {
                return -1;
            }
            slot->in_arena = 0;
        }
    }
    return 0;
}

/* Room for the free marks and touched slots of `max_blocks` blocks. */
static int
make_room(block_census *c, size_t max_blocks)
{
    c->max_blocks = max_blocks;
    c->is_free = PyMem_RawMalloc(max_blocks);
    c->touched = PyMem_RawMalloc(max_blocks * sizeof(type_slot *));
    return c->is_free != NULL && c->touched != NULL ? 0 : -1;
}

#if MP_HAVE_OBMALLOC_STATE
/* Blocks per pool at most: the smallest class in the largest pool. */
#define MP_MAX_BLOCKS_PER_POOL (POOL_SIZE / ALIGNMENT)

/* One carved, in-use pool: 0, or -1 when memory ran out. */
static int
count_pool(block_census *c, mp_pool *pool, unsigned int arena)
{
    size_t size = INDEX2SIZE(pool->szidx);
    uintptr_t base = (uintptr_t)pool;
    if (pool->nextoffset < MP_POOL_OVERHEAD
        || pool->nextoffset > POOL_SIZE) {
        c->unreadable_pools++;
        return 0;
    }
    size_t carved = (pool->nextoffset - MP_POOL_OVERHEAD) / size;
    memset(c->is_free, 0, carved);
    size_t nfree = 0;
    for (uintptr_t b = (uintptr_t)pool->freeblock; b != 0;
         b = (uintptr_t)*(void **)b) {
        size_t offset = b - base;
        size_t index = (offset - MP_POOL_OVERHEAD) / size;
        if (b < base + MP_POOL_OVERHEAD || offset >= pool->nextoffset
            || (offset - MP_POOL_OVERHEAD) % size != 0
            || c->is_free[index] || ++nfree > carved) {
            c->unreadable_pools++;      /* outside the pool, or a loop */
            return 0;
        }
        c->is_free[index] = 1;
    }
    if (carved - nfree != pool->ref.count) {
        c->unreadable_pools++;
        return 0;
    }
    size_t number = (base - mp_first_pool(c->arena_address[arena])) / POOL_SIZE;
    return count_blocks(c, base + MP_POOL_OVERHEAD, size, carved, arena,
                        number, ANY_OBJECTS);
}

static int
walk_pools(block_census *c)
{
    mp_obmalloc_state *state = mp_obmalloc(PyInterpreterState_Get());
    mp_arena *arenas = state->mgmt.arenas;
    unsigned int maxarenas = state->mgmt.maxarenas;
    c->arena_address = PyMem_RawCalloc(maxarenas ? maxarenas : 1, sizeof(uintptr_t));
    if (c->arena_address == NULL || make_room(c, MP_MAX_BLOCKS_PER_POOL) < 0) {
        return -1;
    }
    c->narenas = maxarenas;
    for (unsigned int i = 0; i < maxarenas; i++) {
        uintptr_t base = arenas[i].address;
        if (base == 0) {
            continue;
        }
        c->arena_address[i] = base;
        for (base = mp_first_pool(base);
             base < (uintptr_t)arenas[i].pool_address; base += POOL_SIZE) {
            mp_pool *pool = (mp_pool *)base;
            if (mp_pool_in_use(pool) && count_pool(c, pool, i) < 0) {
                return -1;
            }
        }
        if (flush_arena(c, i) < 0) {
            return -1;
        }
    }
    return 0;
}
#endif /* MP_HAVE_OBMALLOC_STATE */

#if MP_HAVE_MIMALLOC
#define MEMORY_RAN_OUT 2            /* a visitor's stop, not a broken list */

/* mp_mi_link_reader for this process, whose other threads are paused. */
static int
read_link(void *ctx, uintptr_t block, mi_block_t *into)
{
    (void)ctx;
    memcpy(into, (const void *)block, sizeof(*into));
    return 0;
}

/* Marks the blocks on one of a page's free lists (mp_mi_mark_free). */
static Py_ssize_t
mark_free(block_census *c, const mi_page_t *page, const mi_block_t *head,
          uintptr_t first, size_t size, size_t capacity)
{
    int e;
    return mp_mi_mark_free(page, (uintptr_t)page, (uintptr_t)head, first, size,
                           capacity, c->is_free, read_link, NULL, &e);
}

/* Which objects a page of this heap kind may hold. */
static int
page_kind(int heap)
{
#if MP_FREE_THREADED
    switch (heap) {
    case _Py_MIMALLOC_HEAP_MEM:
        return NO_OBJECTS;
    case _Py_MIMALLOC_HEAP_OBJECT:
        return UNTRACKED_OBJECTS;
    default:
        return TRACKED_OBJECTS;
    }
#else
    (void)heap;
    return ANY_OBJECTS;
#endif
}

/* One page of the segment c->walking (mp_mi_page_visitor). */
static int
count_page(const mi_page_t *page, int heap, int abandoned, void *arg)
{
    (void)abandoned;
    block_census *c = arg;
    unsigned int segment = c->walking;
    size_t size = mp_mi_block_size(page), capacity = page->capacity;
    uintptr_t first = mp_mi_page_start(page, (uintptr_t)page), lo, hi;
    mp_mi_page_bounds(page, (uintptr_t)page, &lo, &hi);
    if (size == 0 || capacity > c->max_blocks || first < lo
        || capacity > (hi - first) / size) {
        c->unreadable_pools++;
        return 0;
    }
    memset(c->is_free, 0, capacity);
    uintptr_t pending = mi_atomic_load_relaxed(&((mi_page_t *)page)->xthread_free);
    Py_ssize_t nfree = mark_free(c, page, page->free, first, size, capacity);
    Py_ssize_t nlocal = nfree < 0 ? -1 : mark_free(c, page, page->local_free,
                                                   first, size, capacity);
    Py_ssize_t nthread = nlocal < 0 ? -1 : mark_free(
        c, page, (const mi_block_t *)(pending & ~(uintptr_t)3), first, size, capacity);
    /* used counts the blocks other threads freed but the page has not
     * taken back (xthread_free): they are free all the same. */
    if (nthread < 0 || (size_t)(nfree + nlocal) + page->used != capacity
        || (size_t)nthread > page->used) {
        c->unreadable_pools++;
        return 0;
    }
    size_t number = (size_t)((const mi_slice_t *)page
                             - ((mi_segment_t *)c->arena_address[segment])->slices);
    return count_blocks(c, first, size, capacity, segment, number,
                        page_kind(heap)) < 0 ? MEMORY_RAN_OUT : 0;
}

/* Notes the segment of each page (mp_mi_page_visitor). */
static int
note_segment(const mi_page_t *page, int heap, int abandoned, void *arg)
{
    (void)heap;
    (void)abandoned;
    block_census *c = arg;
    uintptr_t *grown = room_for_one(c->arena_address, &c->arenas_room,
                                    c->narenas, sizeof(uintptr_t), 64);
    if (grown == NULL) {
        return MEMORY_RAN_OUT;
    }
    c->arena_address = grown;
    c->arena_address[c->narenas++] = (uintptr_t)page & ~MI_SEGMENT_MASK;
    return 0;
}

static int
by_address(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

/* Every segment that holds a page of the interpreter's heaps, in address
 * order, page by page: 0, -1 when memory ran out, or 1 when a list or a
 * segment's slices do not add up.  Other threads are paused throughout. */
static int
walk_segments(block_census *c)
{
    if (make_room(c, MP_MAX_BLOCKS_PER_PAGE) < 0) {
        return -1;
    }
    PyInterpreterState *interp = PyInterpreterState_Get();
    int threads, abandoned, rc;
    mp_stop_the_world(interp);
    rc = mp_mi_visit_pages(interp, note_segment, c, &threads, &abandoned);
    size_t found = c->narenas, n = 0;
    if (rc == 0 && found > 0) {
        qsort(c->arena_address, found, sizeof(uintptr_t), by_address);
        for (size_t i = 0; i < found; i++) {
            if (n == 0 || c->arena_address[n - 1] != c->arena_address[i]) {
                c->arena_address[n++] = c->arena_address[i];
            }
        }
    }
    c->narenas = n;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        c->walking = (unsigned int)i;
        rc = mp_mi_segment_pages((mi_segment_t *)c->arena_address[i], 0,
                                 count_page, c);
        if (rc == 0 && flush_arena(c, (unsigned int)i) < 0) {
            rc = MEMORY_RAN_OUT;
        }
    }
    mp_start_the_world(interp);
    return rc == MEMORY_RAN_OUT ? -1 : rc != 0;
}
#endif /* MP_HAVE_MIMALLOC */

/* Each known type is held from the gathering until the walk ends; only
 * the types counted stay held after it (for building, which may run a
 * collection that frees the last instance of a type). */
static int
held(const block_census *c, const type_slot *slot)
{
    return slot->type != NULL && (!c->walked || slot->blocks > 0);
}

static void
let_go_uncounted(block_census *c)
{
    for (size_t s = 0; s <= c->types.mask; s++) {
        if (held(c, &c->types.slots[s]) && c->types.slots[s].blocks == 0) {
            Py_DECREF((PyObject *)c->types.slots[s].type);
        }
    }
    c->walked = 1;
}

static void
release(block_census *c)
{
    for (size_t s = 0; c->types.slots && s <= c->types.mask; s++) {
        if (held(c, &c->types.slots[s])) {
            Py_DECREF((PyObject *)c->types.slots[s].type);
        }
    }
    PyMem_RawFree(c->types.slots);
    PyMem_RawFree(c->holders);
    PyMem_RawFree(c->arena_address);
    PyMem_RawFree(c->pools);
    PyMem_RawFree(c->is_free);
    PyMem_RawFree(c->touched);
}

/* A flat tuple of `width` numbers per row: the first `width` size_t
 * fields of each of n rows `stride` bytes apart, NO_SLOT fields as -1. */
static PyObject *
flat_rows(const void *rows, size_t n, size_t stride, int width)
{
    PyObject *t = PyTuple_New((Py_ssize_t)(n * (size_t)width));
    for (size_t i = 0; t != NULL && i < n; i++) {
        const size_t *row = (const size_t *)((const char *)rows + i * stride);
        for (int k = 0; k < width; k++) {
            PyObject *v = row[k] == NO_SLOT ? PyLong_FromLong(-1)
                                            : PyLong_FromSize_t(row[k]);
            if (v == NULL) {
                Py_CLEAR(t);
                break;
            }
            PyTuple_SET_ITEM(t, (Py_ssize_t)(i * (size_t)width + (size_t)k), v);
        }
    }
    return t;
}

/* (types, blocks, bytes, arenas, holders, other_blocks, other_bytes,
 * own_blocks, own_bytes, unreadable_pools, pools): the types that hold
 * blocks and, in their order, the blocks, bytes and arenas of each;
 * holders a flat tuple of (arena address, type index, blocks) per arena
 * and type, in the arena table's order; the in-use blocks that hold no
 * object of a known type; those holding memprobe's own results (left out
 * of the types); pools not read; pools, when asked for, a flat tuple of
 * (arena address, the pool's number in its arena, type index of its most
 * common type or -1, that type's blocks, blocks holding objects of known
 * types) per pool read, else None. */
static PyObject *
build(block_census *c)
{
    size_t n = 0;
    size_t *index = PyMem_RawCalloc(c->types.mask + 1, sizeof(size_t));
    type_slot *rows = PyMem_RawCalloc(c->types.used + 1, sizeof(type_slot));
    if (index == NULL || rows == NULL) {
        PyMem_RawFree(index);
        PyMem_RawFree(rows);
        return PyErr_NoMemory();
    }
    for (size_t s = 0; s <= c->types.mask; s++) {
        if (c->types.slots[s].type != NULL && c->types.slots[s].blocks > 0) {
            index[s] = n;
            rows[n++] = c->types.slots[s];
        }
    }
    PyObject *types = PyTuple_New((Py_ssize_t)n);
    for (size_t i = 0; types != NULL && i < n; i++) {
        PyTuple_SET_ITEM(types, (Py_ssize_t)i, Py_NewRef((PyObject *)rows[i].type));
    }
    PyObject *blocks = types ? flat_rows(&rows[0].blocks, n, sizeof(type_slot), 1) : NULL;
    PyObject *bytes = blocks ? flat_rows(&rows[0].bytes, n, sizeof(type_slot), 1) : NULL;
    PyObject *arenas = bytes ? flat_rows(&rows[0].arenas, n, sizeof(type_slot), 1) : NULL;
    /* The rows as numbers in raw memory first: arenas by address, types
     * by their index in `types`. */
    size_t rows_needed = 3 * c->nholders + 5 * c->npools + 1;
    size_t *flat = arenas ? PyMem_RawMalloc(rows_needed * sizeof(size_t)) : NULL;
    if (arenas != NULL && flat == NULL) {
        PyErr_NoMemory();
    }
    PyObject *holders = NULL, *pools = NULL;
    if (flat != NULL) {
        size_t *h = flat, *p = flat + 3 * c->nholders;
        for (size_t i = 0; i < c->nholders; i++) {
            h[3 * i] = c->arena_address[c->holders[i].arena];
            h[3 * i + 1] = index[c->holders[i].slot];
            h[3 * i + 2] = c->holders[i].blocks;
        }
        for (size_t i = 0; i < c->npools; i++) {
            const pool_row *row = &c->pools[i];
            p[5 * i] = c->arena_address[row->arena];
            p[5 * i + 1] = row->number;
            p[5 * i + 2] = row->slot == NO_SLOT ? NO_SLOT : index[row->slot];
            p[5 * i + 3] = row->blocks;
            p[5 * i + 4] = row->objects;
        }
        holders = flat_rows(h, c->nholders, 3 * sizeof(size_t), 3);
        pools = !holders ? NULL
            : c->per_pool ? flat_rows(p, c->npools, 5 * sizeof(size_t), 5)
            : Py_NewRef(Py_None);
        PyMem_RawFree(flat);
    }
    PyObject *result = pools ? Py_BuildValue(
        "(OOOOOnnnnnOs)", types, blocks, bytes, arenas, holders,
        (Py_ssize_t)c->other_blocks, (Py_ssize_t)c->other_bytes,
        (Py_ssize_t)c->own_blocks, (Py_ssize_t)c->own_bytes,
        (Py_ssize_t)c->unreadable_pools, pools, c->allocator) : NULL;
    Py_XDECREF(pools);
    Py_XDECREF(types);
    Py_XDECREF(blocks);
    Py_XDECREF(bytes);
    Py_XDECREF(arenas);
    Py_XDECREF(holders);
    PyMem_RawFree(index);
    PyMem_RawFree(rows);
    return result;
}

#endif /* MP_HAVE_BLOCK_CENSUS */

struct mp_blocks_reading {
#if MP_HAVE_BLOCK_CENSUS
    block_census c;
#else
    int unused;
#endif
};

/* Whose blocks a census reads: "pymalloc", "mimalloc", or NULL with the
 * refusal in *r. */
static const char *
census_allocator(mp_state *st, mp_refusal *r)
{
    mp_allocator a;
    mp_current_allocator(&a);
#if MP_HAVE_MIMALLOC
    if (a.name == NULL && MP_FREE_THREADED) {
        mp_refuse(r, st->no_mimalloc,
                  "block_census(): the allocator is hooked (e.g. by "
                  "tracemalloc); the census reads mimalloc's pages only "
                  "when nothing wraps it");
        return NULL;
    }
    if (a.name != NULL && a.family == MP_ALLOC_MIMALLOC) {
        if (!mp_check_part(st, MP_PART_MIMALLOC, r)) {
            return NULL;
        }
        if (!MP_CAN_STOP_THE_WORLD) {
            mp_refuse(r, st->unsupported,
                      "block_census(): CPython %s does not export the call "
                      "that pauses other threads, so their pages cannot be "
                      "read safely", mp_version_text(st));
            return NULL;
        }
#  if !MP_FREE_THREADED
        /* A default build keeps each thread's mimalloc heap in that
         * thread's own storage: only the calling thread's can be found,
         * and a thread that ended leaves its pages where none can. */
        PyInterpreterState *interp = PyInterpreterState_Get();
        uint64_t made = mp_thread_states_made(interp), alive = 0;
        for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts != NULL;
             ts = PyThreadState_Next(ts)) {
            alive++;
        }
        if (made < alive || alive == 0) {
            mp_refuse(r, st->unsupported,
                      "block_census(): the interpreter's count of thread "
                      "states reads %llu with %llu alive: its layout differs "
                      "from what memprobe was built for",
                      (unsigned long long)made, (unsigned long long)alive);
            return NULL;
        }
        uint64_t others = made - 1;
        if (others > 0) {
            mp_refuse(r, st->unsupported,
                      "block_census(): under PYTHONMALLOC=mimalloc a default "
                      "build's threads each keep their own heap, and only the "
                      "calling thread's can be read; %llu other thread "
                      "state(s) have run in this interpreter, so objects they "
                      "allocated would be missing", (unsigned long long)others);
            return NULL;
        }
#  endif
        return "mimalloc";
    }
#endif
    if (!mp_pymalloc_serves(st, r)) {
        return NULL;
    }
#if MP_HAVE_OBMALLOC_STATE
    if (mp_obmalloc_shared(PyInterpreterState_Get())) {
        /* Its blocks are the main interpreter's too, whose types it cannot
         * know: half the objects would be "other". */
        mp_refuse(r, st->unsupported,
                  "block_census(): this legacy subinterpreter shares the "
                  "main interpreter's pymalloc state; run it in the main "
                  "interpreter or in an isolated subinterpreter");
        return NULL;
    }
    return "pymalloc";
#else
    mp_refuse(r, st->unsupported,
              "block_census() needs CPython 3.12+: before 3.12 pymalloc's "
              "arena table is file-static in obmalloc.c and not reachable "
              "from an extension (running CPython %s)", mp_version_text(st));
    return NULL;
#endif
}

int
mp_blocks_read(mp_state *st, int per_pool, mp_blocks_reading **out,
               mp_refusal *r)
{
    *out = NULL;
    if (!mp_check_part(st, MP_PART_GC, r)) {
        return 0;
    }
    const char *allocator = census_allocator(st, r);
    if (allocator == NULL) {
        return 0;
    }
#if MP_HAVE_BLOCK_CENSUS
    mp_blocks_reading *b = PyMem_RawCalloc(1, sizeof(*b));
    if (b == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    block_census *c = &b->c;
    c->allocator = allocator;
    c->own_types = st->own_types;
    c->per_pool = per_pool;
    int walked = gather_types(st, &c->types);
    if (walked == 0) {
#  if MP_HAVE_MIMALLOC
        if (allocator[0] == 'm') {
            walked = walk_segments(c);
        }
#  endif
#  if MP_HAVE_OBMALLOC_STATE
        if (allocator[0] == 'p') {
            walked = walk_pools(c);
        }
#  endif
    }
    if (walked != 0) {
        mp_blocks_release(b);
        if (walked > 0) {
            return mp_refuse(r, st->error,
                             "block_census(): a mimalloc page list or segment "
                             "did not add up (a loop, or slices that do not "
                             "tile the segment); refusing to report it");
        }
        if (!PyErr_Occurred()) {
            PyErr_NoMemory();
        }
        return -1;
    }
    let_go_uncounted(c);
    *out = b;
    return 0;
#else
    (void)per_pool;
    Py_UNREACHABLE();
#endif
}

PyObject *
mp_blocks_build(const mp_blocks_reading *b)
{
#if MP_HAVE_BLOCK_CENSUS
    return build((block_census *)&b->c);
#else
    (void)b;
    Py_UNREACHABLE();
#endif
}

void
mp_blocks_release(mp_blocks_reading *b)
{
    if (b == NULL) {
        return;
    }
#if MP_HAVE_BLOCK_CENSUS
    release(&b->c);
#endif
    PyMem_RawFree(b);
}

/* _block_census(per_pool, /) -> see build(). */
static PyObject *
block_census_probe(PyObject *module, PyObject *per_pool_arg)
{
    mp_state *st = mp_module_state(module);
    int per_pool = st ? PyObject_IsTrue(per_pool_arg) : -1;
    mp_blocks_reading *b;
    mp_refusal r;
    if (per_pool < 0 || mp_blocks_read(st, per_pool, &b, &r) < 0) {
        return NULL;
    }
    if (b == NULL) {
        return mp_raise_refusal(st, &r);
    }
    PyObject *result = mp_blocks_build(b);
    mp_blocks_release(b);
    return result;
}

/* _block_baseline(buffer, types, /) -> bool.  A block census read into
 * `buffer`, a bytearray made before the reading, as 64-bit words: words
 * used, then the blocks and bytes of each of `types` (a tuple: the types
 * of an earlier census, which the caller keeps alive) in its order.  Types
 * not in `types` are not counted.  Too small a buffer gets words used =
 * -(words needed) and False; nothing is allocated after the reading. */
static PyObject *
block_baseline(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    mp_state *st = mp_module_state(module);
    if (st == NULL) {
        return NULL;
    }
    if (nargs != 2 || !PyByteArray_CheckExact(args[0]) || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "_block_baseline takes a bytearray and a tuple");
        return NULL;
    }
    PyObject *buffer = args[0], *types = args[1];
    mp_blocks_reading *b;
    mp_refusal r;
    if (mp_blocks_read(st, 0, &b, &r) < 0) {
        return NULL;
    }
    if (b == NULL) {
        return mp_raise_refusal(st, &r);
    }
    Py_ssize_t n = PyTuple_GET_SIZE(types);
    size_t needed = 1 + 2 * (size_t)n;
    size_t room = (size_t)PyByteArray_GET_SIZE(buffer) / 8;
    int64_t *words = (int64_t *)PyByteArray_AS_STRING(buffer);
    int enough = needed <= room;
#if MP_HAVE_BLOCK_CENSUS
    for (Py_ssize_t i = 0; enough && i < n; i++) {
        const type_slot *slot = slot_of(&b->c.types,
                                        (PyTypeObject *)PyTuple_GET_ITEM(types, i));
        int counted = slot->type != NULL;
        words[1 + 2 * i] = counted ? (int64_t)slot->blocks : 0;
        words[2 + 2 * i] = counted ? (int64_t)slot->bytes : 0;
    }
#endif
    if (room > 0) {
        words[0] = enough ? (int64_t)needed : -(int64_t)needed;
    }
    mp_blocks_release(b);
    return Py_NewRef(enough ? Py_True : Py_False);
}

static PyMethodDef blocks_methods[] = {
    {"_block_census", block_census_probe, METH_O,
     "_block_census(per_pool, /)\n--\n\npymalloc's in-use blocks by the "
     "type of the object each holds, who holds each arena and, when asked, "
     "each pool's most common type (3.12+), as plain data."},
    {"_block_baseline", (PyCFunction)(void (*)(void))block_baseline, METH_FASTCALL,
     "_block_baseline(buffer, types, /)\n--\n\nThe blocks and bytes of each "
     "of types, counted into a bytearray made before the reading."},
    {NULL, NULL, 0, NULL}
};

int
mp_init_blocks(PyObject *module, mp_state *st)
{
    (void)st;
    return PyModule_AddFunctions(module, blocks_methods);
}
