/* gc_lists.c: where objects are, on builds with a GIL: the collector's lists.
 *
 * Reads PyInterpreterState.gc of the calling interpreter through compat.h:
 * the lists generations[0..2] (young/old[0]/old[1] on the incremental
 * regime of 3.14.0-3.14.4) and permanent_generation, the collecting flag,
 * and each object's PyGC_Head (_gc_next, the finalized bit of _gc_prev).
 * 3.9-3.15.  Free-threaded builds compile gc_bits.c instead.
 *
 * Every walk of a list is walk() below: it follows _gc_next only (during
 * a collection _gc_prev holds gc_refs), stops when it returns to where it
 * started, and gives up after more steps than objects could fit in memory.
 * Locating one object when no collection runs (locate_one) also follows
 * _gc_prev, from the object towards the nearer end of its own list.
 * Nothing is allocated as a Python object and no Python code runs while
 * walking; scratch memory comes from PyMem_Raw*.
 */
#include "parts.h"

#if !MP_FREE_THREADED

PyGC_Head *
mp_gc_list_head(PyInterpreterState *interp, int list)
{
    struct _gc_runtime_state *gc = mp_gc_state(interp);
    return list == MP_PERMANENT_LIST ? &gc->permanent_generation.head
                                     : &mp_gc_generations(interp)[list].head;
}

/* _gc_next without its flag bits: NEXT_MASK_UNREACHABLE during a
 * collection, and the old-space bit of the incremental collector. */
static PyGC_Head *
next_of(PyGC_Head *g)
{
    return (PyGC_Head *)(g->_gc_next & ~(uintptr_t)3);
}

/* _gc_prev without its flag bits; a pointer only when no collection runs
 * (a collection keeps reference counts there). */
static PyGC_Head *
prev_of(PyGC_Head *g)
{
    return (PyGC_Head *)(g->_gc_prev & _PyGC_PREV_MASK);
}

static int
list_is_empty(PyInterpreterState *interp, int list)
{
    PyGC_Head *head = mp_gc_list_head(interp, list);
    return next_of(head) == head;
}

static int
is_tracked(PyObject *op)
{
    return _Py_AS_GC(op)->_gc_next != 0;
}

static int
is_finalized(PyObject *op)
{
    return (_Py_AS_GC(op)->_gc_prev & _PyGC_PREV_MASK_FINALIZED) != 0;
}

/* More steps than this means the list loops somewhere (compat.h). */
#define MP_WALK_CAP MP_STEP_CAP

/* Called for each node of a walk; nonzero stops the walk there. */
typedef int (*walk_step)(PyGC_Head *node, void *arg);

/* Follows _gc_next from start until it comes back to start, calling step
 * (when not NULL) on each node.  Returns 1 when step stopped the walk, 0
 * when the walk came back (*steps nodes seen), -1 with an error set when
 * it did not come back within the cap. */
static int
walk(mp_state *st, PyGC_Head *start, walk_step step, void *arg, size_t *steps)
{
    size_t n = 0;
    for (PyGC_Head *p = next_of(start); p != start; p = next_of(p)) {
        if (p == NULL || ++n > MP_WALK_CAP) {
            PyErr_Format(st->error,
                         "a GC list did not return to its head within %zu "
                         "steps; refusing to read further",
                         (size_t)MP_WALK_CAP);
            return -1;
        }
        if (step != NULL && step(p, arg)) {
            return 1;
        }
    }
    if (steps != NULL) {
        *steps = n;
    }
    return 0;
}

int
mp_gc_list_code(mp_state *st, int list)
{
    if (list == MP_PERMANENT_LIST) {
        return MP_GEN_PERMANENT;
    }
    if (mp_gc_regime_for(st->runtime_hexversion, 0) == MP_GC_INCREMENTAL) {
        if (list == 0) {
            return MP_GEN_YOUNG;
        }
        return list - 1 == mp_gc_visited_space(PyInterpreterState_Get())
            ? MP_GEN_OLD_VISITED : MP_GEN_OLD_PENDING;
    }
    return MP_GEN_GEN0 + list;
}

int
mp_gc_finalized(PyObject *op)
{
    return PyObject_IS_GC(op) && is_finalized(op);
}

int
mp_gc_bits(PyObject *op)
{
    (void)op;
    return -1;
}

unsigned
mp_gc_empty_lists(void)
{
    PyInterpreterState *interp = PyInterpreterState_Get();
    unsigned empty = 0;
    for (int list = 0; list < MP_NUM_LISTS; list++) {
        if (list_is_empty(interp, list)) {
            empty |= MP_LIST(list);
        }
    }
    return empty;
}

int
mp_gc_list_lengths(mp_state *st, unsigned lists,
                   Py_ssize_t lengths[MP_NUM_LISTS])
{
    PyInterpreterState *interp = PyInterpreterState_Get();
    unsigned empty = mp_gc_empty_lists();
    for (int list = 0; list < MP_NUM_LISTS; list++) {
        size_t steps;
        if (!(lists & MP_LIST(list))) {
            lengths[list] = (empty & MP_LIST(list)) ? 0 : -1;
            continue;
        }
        if (walk(st, mp_gc_list_head(interp, list), NULL, NULL, &steps) < 0) {
            return -1;
        }
        lengths[list] = (Py_ssize_t)steps;
    }
    return 0;
}

/* ---- Visiting every object ------------------------------------------------ */

typedef struct {
    mp_gc_visitor visit;
    void *arg;
    int list;
} visit_walk;

static int
visit_step(PyGC_Head *node, void *arg)
{
    visit_walk *v = arg;
    return v->visit((PyObject *)(node + 1), v->list, v->arg);
}

int
mp_gc_visit(mp_state *st, unsigned lists, mp_gc_visitor visit, void *arg)
{
    PyInterpreterState *interp = PyInterpreterState_Get();
    for (int list = 0; list < MP_NUM_LISTS; list++) {
        if (!(lists & MP_LIST(list))) {
            continue;
        }
        visit_walk v = {visit, arg, list};
        int rc = walk(st, mp_gc_list_head(interp, list), visit_step, &v, NULL);
        if (rc != 0) {
            return rc < 0 ? -1 : 0;
        }
    }
    return 0;
}

/* ---- Locating objects: a table of the objects asked about ------------------ */

typedef struct {
    PyGC_Head *key;
    int code;
} query_slot;

typedef struct {
    query_slot *slots;
    size_t mask;
    size_t pending;     /* tracked objects whose list is not found yet */
    int code;           /* of the list being walked */
} query_table;

static query_slot *
query_slot_for(query_table *t, PyGC_Head *key)
{
    size_t i = mp_hash_pointer(key, t->mask);
    while (t->slots[i].key != NULL && t->slots[i].key != key) {
        i = (i + 1) & t->mask;
    }
    return &t->slots[i];
}

static void
query_add(query_table *t, PyGC_Head *key)
{
    query_slot *slot = query_slot_for(t, key);
    if (slot->key == NULL) {
        slot->key = key;
        slot->code = MP_GEN_UNKNOWN;
        t->pending++;
    }
}

/* Gives every object still unknown the code `code`. */
static void
query_settle(query_table *t, int code)
{
    for (size_t s = 0; s <= t->mask; s++) {
        if (t->slots[s].key && t->slots[s].code == MP_GEN_UNKNOWN) {
            t->slots[s].code = code;
        }
    }
    t->pending = 0;
}

/* Marks a queried object met in the list being walked; stops the walk
 * once every object is found. */
static int
query_step(PyGC_Head *node, void *arg)
{
    query_table *t = arg;
    query_slot *slot = query_slot_for(t, node);
    if (slot->key != NULL && slot->code == MP_GEN_UNKNOWN) {
        slot->code = t->code;
        return --t->pending == 0;
    }
    return 0;
}

/* The lists that are not the permanent one, in the order they are
 * searched: the young ones first. */
#define MP_MORTAL_LISTS 3

/* Finds the list of every pending object, when no collection runs, by
 * elimination: the young lists are walked, then, only when the permanent
 * list holds objects, the old one; what is still not found is in the list
 * not walked.  The permanent list is never walked to answer about another
 * list. */
static int
query_lists(mp_state *st, query_table *t)
{
    PyInterpreterState *interp = PyInterpreterState_Get();
    int frozen = !list_is_empty(interp, MP_PERMANENT_LIST);
    int walked = frozen ? MP_MORTAL_LISTS : MP_MORTAL_LISTS - 1;
    for (int list = 0; list < walked && t->pending > 0; list++) {
        t->code = mp_gc_list_code(st, list);
        if (walk(st, mp_gc_list_head(interp, list), query_step, t, NULL) < 0) {
            return -1;
        }
    }
    if (t->pending > 0) {
        query_settle(t, mp_gc_list_code(st, frozen ? MP_PERMANENT_LIST
                                                   : MP_MORTAL_LISTS - 1));
    }
    return 0;
}

/* Which list a head is, or -1. */
static int
head_index(PyGC_Head *const heads[MP_NUM_LISTS], PyGC_Head *node)
{
    for (int list = 0; list < MP_NUM_LISTS; list++) {
        if (node == heads[list]) {
            return list;
        }
    }
    return -1;
}

/* Steps each of the two scans of a list takes per round. */
#define MP_SCAN_STEPS 2

/* One tracked object when no collection runs.  Cursors move in lockstep,
 * round by round, so that their memory reads overlap: one step forward
 * and one backward from the object (the first head either meets names its
 * list), and scans of the lists from both ends, MP_SCAN_STEPS steps a
 * round each (a scan that meets the object names its list; a list whose
 * two scans meet is ruled out, and when every list but one is ruled out
 * the object is in that one).  Empty lists are ruled out at once, and
 * generation 2 is not scanned when nothing is frozen (it is what
 * remains).  The scans take more steps than the walk from the object,
 * which in a reordered heap meets a cache miss at every step (measured:
 * 2 steps beat 1, 3, 4 and 8, and beat scanning the permanent list from
 * its head only, 1.7 -> 0.9 us for an old object on 3.12.1).  The cost is
 * about the smaller of the object's distance to an end of its own list
 * and a quarter of the longest list it is not in: a few steps for an
 * object made or promoted recently, a short pass over the young lists
 * for an old one, and a long frozen list is scanned only as far as the
 * object's own list is.  `budget` > 0 gives up after that many rounds
 * (MP_GEN_UNKNOWN, no error); *rounds says how many ran. */
static int
locate_one(mp_state *st, PyObject *op, size_t budget, size_t *rounds)
{
    PyInterpreterState *interp = PyInterpreterState_Get();
    int frozen = !list_is_empty(interp, MP_PERMANENT_LIST);
    PyGC_Head *heads[MP_NUM_LISTS], *ahead[MP_NUM_LISTS], *behind[MP_NUM_LISTS];
    int open[MP_NUM_LISTS], scanned[MP_NUM_LISTS], open_lists = 0;
    for (int list = 0; list < MP_NUM_LISTS; list++) {
        heads[list] = ahead[list] = behind[list] = mp_gc_list_head(interp, list);
        open[list] = !list_is_empty(interp, list);
        scanned[list] = open[list] && (frozen || list != MP_MORTAL_LISTS - 1);
        open_lists += open[list];
    }
    PyGC_Head *self = _Py_AS_GC(op);
    PyGC_Head *forward = self, *backward = self;
    for (size_t round = 1; round <= MP_WALK_CAP; round++) {
        *rounds = round;
        if (open_lists == 1) {
            int list = 0;
            while (!open[list]) {
                list++;
            }
            return mp_gc_list_code(st, list);
        }
        if (budget > 0 && round > budget) {
            return MP_GEN_UNKNOWN;
        }
        forward = next_of(forward);
        backward = prev_of(backward);
        if (forward == NULL || backward == NULL) {
            break;
        }
        int list = head_index(heads, forward);
        if (list < 0) {
            list = head_index(heads, backward);
        }
        if (list >= 0) {
            return mp_gc_list_code(st, list);
        }
        for (list = 0; list < MP_NUM_LISTS; list++) {
            /* A list from both ends, until the two scans meet. */
            for (int step = 0; step < MP_SCAN_STEPS && scanned[list]; step++) {
                PyGC_Head *a = next_of(ahead[list]), *b = prev_of(behind[list]);
                if (a == NULL || b == NULL) {
                    goto corrupt;
                }
                if (a == self || b == self) {
                    return mp_gc_list_code(st, list);
                }
                if (a == behind[list] || a == b || b == ahead[list]) {
                    open[list] = scanned[list] = 0;
                    open_lists--;
                }
                ahead[list] = a;
                behind[list] = b;
            }
        }
    }
corrupt:
    PyErr_Format(st->error, "a GC list did not return to its head within "
                 "%zu steps; refusing to read further", (size_t)MP_WALK_CAP);
    return MP_GEN_UNKNOWN;
}

typedef struct {
    PyGC_Head *heads[MP_NUM_LISTS];
    int list;           /* whose head the walk met, or -1 */
} head_search;

static int
head_step(PyGC_Head *node, void *arg)
{
    head_search *h = arg;
    h->list = head_index(h->heads, node);
    return h->list >= 0;
}

/* One object during a collection: walk forward from it.  Meeting a known
 * head names its list; coming back to the object means it sits in a list
 * whose head the collection keeps on its own stack. */
static int
locate_while_collecting(mp_state *st, PyObject *op)
{
    PyInterpreterState *interp = PyInterpreterState_Get();
    head_search h = {.list = -1};
    for (int list = 0; list < MP_NUM_LISTS; list++) {
        h.heads[list] = mp_gc_list_head(interp, list);
    }
    int rc = walk(st, _Py_AS_GC(op), head_step, &h, NULL);
    if (rc < 0) {
        return MP_GEN_UNKNOWN;
    }
    return rc == 1 ? mp_gc_list_code(st, h.list) : MP_GEN_IN_COLLECTION;
}

/* The code of objects outside every list, else MP_GEN_UNKNOWN. */
static int
outside_lists(PyObject *op)
{
    if (!PyObject_IS_GC(op)) {
        return MP_GEN_NOT_GC;
    }
    return is_tracked(op) ? MP_GEN_UNKNOWN : MP_GEN_UNTRACKED;
}

/* Rounds a batch spends on locating objects one by one before it walks
 * the lists once for the rest: about one pass over a million objects. */
#define MP_BATCH_ROUNDS ((size_t)1 << 20)

/* Every pending object during a collection: one walk of each list; what
 * none holds sits in a list the collection keeps on its own stack. */
static int
query_lists_while_collecting(mp_state *st, query_table *t)
{
    PyInterpreterState *interp = PyInterpreterState_Get();
    for (int list = 0; list < MP_NUM_LISTS && t->pending > 0; list++) {
        t->code = mp_gc_list_code(st, list);
        if (walk(st, mp_gc_list_head(interp, list), query_step, t, NULL) < 0) {
            return -1;
        }
    }
    query_settle(t, MP_GEN_IN_COLLECTION);
    return 0;
}

int
mp_gc_locate(mp_state *st, PyObject *const *objs, Py_ssize_t n, int *codes)
{
    int collecting = mp_gc_state(PyInterpreterState_Get())->collecting;
    if (n == 1) {
        codes[0] = outside_lists(objs[0]);
        if (codes[0] == MP_GEN_UNKNOWN) {
            size_t rounds;
            codes[0] = collecting ? locate_while_collecting(st, objs[0])
                                  : locate_one(st, objs[0], 0, &rounds);
        }
        return codes[0] == MP_GEN_UNKNOWN ? -1 : 0;
    }
    size_t size = 8;
    while (size < 2 * (size_t)n) {
        size <<= 1;
    }
    query_table t = {PyMem_RawCalloc(size, sizeof(query_slot)), size - 1, 0, 0};
    if (t.slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    /* One by one while that costs less than a pass over the lists; the
     * rest in one pass. */
    size_t left = collecting ? 0 : MP_BATCH_ROUNDS;
    for (Py_ssize_t i = 0; i < n; i++) {
        codes[i] = outside_lists(objs[i]);
        if (codes[i] == MP_GEN_UNKNOWN && left > 0) {
            size_t rounds = 0;
            codes[i] = locate_one(st, objs[i], left, &rounds);
            left -= rounds < left ? rounds : left;
            if (PyErr_Occurred()) {
                PyMem_RawFree(t.slots);
                return -1;
            }
        }
        if (codes[i] == MP_GEN_UNKNOWN) {
            query_add(&t, _Py_AS_GC(objs[i]));
        }
    }
    int rc = collecting ? query_lists_while_collecting(st, &t)
                        : query_lists(st, &t);
    for (Py_ssize_t i = 0; rc == 0 && i < n; i++) {
        if (codes[i] == MP_GEN_UNKNOWN) {
            codes[i] = query_slot_for(&t, _Py_AS_GC(objs[i]))->code;
        }
    }
    PyMem_RawFree(t.slots);
    return rc;
}

#endif /* !MP_FREE_THREADED */
