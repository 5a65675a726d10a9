/* remote.c: another process's collector, read from outside (attach).
 *
 * Reads a process that runs the same CPython build as this one (memprobe/
 * _attach.py finds its _PyRuntime, checks the build first and, when asked,
 * pauses the target), with process_vm_readv on Linux: it never writes to
 * the target and runs no code in it.  What it reads: _PyRuntimeState.interpreters.main;
 * a copy of the PyInterpreterState that points to, whose gc state is then
 * read through compat.h's accessors on the copy, as gc.c reads the calling
 * interpreter's (thresholds, counts, enabled, collecting, long-lived
 * counters, heap_size); and the collector's lists (generations[0..2] and
 * permanent_generation) along PyGC_Head._gc_next, through a cache of the
 * target's pages (one read per page, not per node).  3.9-3.15
 * builds with a GIL; on 3.13+ also hands over _PyRuntime.debug_offsets
 * (_Py_DebugOffsets) for the build check.
 *
 * pymalloc (GIL builds): 3.12+, the interpreter's struct _obmalloc_mgmt
 * (in PyInterpreterState.obmalloc: embedded in 3.12, a pointer from 3.13)
 * and _PyRuntime.allocators.standard.obj and .debug.obj (their ctx
 * pointers); 3.9-3.11, Objects/obmalloc.c's statics arenas, maxarenas,
 * ntimes_arena_allocated, narenas_highwater, raw_allocated_blocks,
 * _PyObject and _PyMem_Debug, at the addresses attach found in the
 * target's symbol table.  Then its arena table (arenas[0..maxarenas)) and
 * each arena's carved pool headers in one read; pymalloc.c walks the
 * copies as it walks this process's.  Beside them, the interpreter's
 * sys.modules (PyInterpreterState.imports.modules; .modules before 3.12).
 */
#include "remote.h"

/* The most one _remote_read() returns. */
#define MP_REMOTE_READ_MAX ((Py_ssize_t)64 << 20)

#if MP_REMOTE
/* n ranges of process pid, remote[k] into local[k] (of the same lengths),
 * in one process_vm_readv: 0, or an errno (a short read, part of a range
 * not mapped, is EFAULT). */
int
mp_read_remote_v(pid_t pid, const struct iovec *local,
              const struct iovec *remote, unsigned long n)
{
    size_t size = 0;
    for (unsigned long k = 0; k < n; k++) {
        size += local[k].iov_len;
    }
    ssize_t got = process_vm_readv(pid, local, n, remote, n, 0);
    if (got < 0) {
        return errno;
    }
    return (size_t)got == size ? 0 : EFAULT;
}

/* size bytes at address in process pid, into buf: as read_remote_v. */
int
mp_read_remote(pid_t pid, uintptr_t address, void *buf, size_t size)
{
    struct iovec local = {buf, size};
    struct iovec remote = {(void *)address, size};
    return mp_read_remote_v(pid, &local, &remote, 1);
}

/* OSError (PermissionError, ProcessLookupError...) for errno e. */
PyObject *
mp_raise_errno(int e)
{
    errno = e;
    return PyErr_SetFromErrno(PyExc_OSError);
}
#endif

#if !MP_REMOTE
static PyObject *
not_here(mp_state *st)
{
    PyErr_SetString(st->error, "attach reads other processes only on Linux "
                    "(process_vm_readv)");
    return NULL;
}
#endif

/* _remote_layout() -> (main_offset, debug_offsets): where in _PyRuntime
 * the main interpreter's pointer sits, and the bytes of
 * _PyRuntime.debug_offsets (None before 3.13). */
static PyObject *
remote_layout(PyObject *module, PyObject *unused)
{
    (void)unused;
    mp_state *st = mp_module_state(module);
    if (st == NULL) {
        return NULL;
    }
#if PY_VERSION_HEX >= 0x030D0000
    PyObject *offsets = PyBytes_FromStringAndSize(
        (const char *)&_PyRuntime.debug_offsets,
        sizeof(_PyRuntime.debug_offsets));
    if (offsets == NULL) {
        return NULL;
    }
#else
    PyObject *offsets = Py_NewRef(Py_None);
#endif
    /* The offset as compiled, checked against the running runtime (a
     * patch release may move _PyRuntime's fields); a target is read only
     * when its build is this one. */
    size_t main_offset = offsetof(_PyRuntimeState, interpreters.main);
    PyInterpreterState *main_here;
    memcpy(&main_here, (char *)&_PyRuntime + main_offset, sizeof(main_here));
    if (main_here != PyInterpreterState_Main()) {
        Py_DECREF(offsets);
        PyErr_SetString(st->error, "_PyRuntime.interpreters"
                        ".main is not where this extension was compiled to "
                        "find it: attach cannot read this build's layout");
        return NULL;
    }
    return Py_BuildValue("(nN)", (Py_ssize_t)main_offset, offsets);
}

/* 0 for a pid that can name another process, else -1 with ValueError. */
static int
check_pid(long pid)
{
    if (pid <= 0) {
        PyErr_Format(PyExc_ValueError, "pid must be positive, not %ld", pid);
        return -1;
    }
    return 0;
}

/* _remote_read(pid, address, size) -> bytes: size bytes of process pid.
 * OSError from process_vm_readv (EFAULT: not all of it mapped). */
static PyObject *
remote_read(PyObject *module, PyObject *args)
{
    mp_state *st = mp_module_state(module);
    long pid;
    unsigned long long address;
    Py_ssize_t size;
    if (st == NULL || !PyArg_ParseTuple(args, "lKn", &pid, &address, &size)
        || check_pid(pid) < 0) {
        return NULL;
    }
    if (size < 0 || size > MP_REMOTE_READ_MAX) {
        PyErr_Format(PyExc_ValueError, "size must be 0 to %zd, not %zd",
                     MP_REMOTE_READ_MAX, size);
        return NULL;
    }
#if MP_REMOTE
    char *buf = PyMem_RawMalloc(size ? (size_t)size : 1);
    if (buf == NULL) {
        return PyErr_NoMemory();
    }
    int e = size ? mp_read_remote((pid_t)pid, (uintptr_t)address, buf, (size_t)size) : 0;
    PyObject *result = e ? mp_raise_errno(e) : PyBytes_FromStringAndSize(buf, size);
    PyMem_RawFree(buf);
    return result;
#else
    return not_here(st);
#endif
}

#if MP_REMOTE
/* A copy, in PyMem_Raw memory, of the PyInterpreterState at address in
 * process pid, which must point back to runtime (the target's
 * _PyRuntime); NULL with OSError or MemprobeError set. */
static PyInterpreterState *
read_interp(mp_state *st, long pid, uintptr_t runtime, uintptr_t address)
{
    PyInterpreterState *copy = PyMem_RawMalloc(sizeof(PyInterpreterState));
    if (copy == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    int e = mp_read_remote((pid_t)pid, address, copy, sizeof(*copy));
    if (e == 0 && (uintptr_t)copy->runtime == runtime) {
        return copy;
    }
    PyMem_RawFree(copy);
    if (e != 0) {
        mp_raise_errno(e);
    }
    else {
        PyErr_Format(st->error, "the main interpreter's state in process %ld "
                     "does not point back to its _PyRuntime: not the build "
                     "memprobe was compiled for", pid);
    }
    return NULL;
}
#endif

#if MP_REMOTE
/* The target's memory a page at a time: one read per page met, not per
 * node (objects made together sit together, so a list's neighbours share
 * pages).  A direct-mapped cache, emptied for each reading.  It starts at
 * MP_CACHED_PAGES_MIN pages and grows eightfold, up to
 * MP_CACHED_PAGES_MAX (256 MiB), while most lookups miss: a list whose
 * order collections shuffled visits its pages in any order, and then
 * finds each read already once they all fit, while a list in allocation
 * order reads each page once and never needs more (a larger cache would
 * only cost it a page fault per page).  A PyGC_Head is aligned to its
 * size, so it never crosses a page. */
#define MP_PAGE ((uintptr_t)4096)
#define MP_CACHED_PAGES_MIN ((size_t)64)
#define MP_CACHED_PAGES_MAX ((size_t)1 << 16)
/* Lookups between two looks at the miss rate. */
#define MP_CACHE_WINDOW 4096

/* c holding slots empty pages: 0, or -1 (out of memory, c unchanged). */
static int
cache_resize(mp_page_cache *c, size_t slots)
{
    uintptr_t *page = PyMem_RawCalloc(slots, sizeof(uintptr_t));
    char *data = page ? PyMem_RawMalloc(slots * MP_PAGE) : NULL;
    if (data == NULL) {
        PyMem_RawFree(page);
        return -1;
    }
    PyMem_RawFree(c->page);
    PyMem_RawFree(c->data);
    c->page = page;
    c->data = data;
    c->slots = slots;
    return 0;
}

/* 0, or -1 with MemoryError. */
int
mp_cache_open(mp_page_cache *c, pid_t pid)
{
    memset(c, 0, sizeof(*c));
    c->pid = pid;
    if (cache_resize(c, MP_CACHED_PAGES_MIN) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

void
mp_cache_close(mp_page_cache *c)
{
    PyMem_RawFree(c->page);
    PyMem_RawFree(c->data);
}

/* size bytes at address through the cache, page by page: 0, or an
 * errno. */
int
mp_read_cached(mp_page_cache *c, uintptr_t address, void *into, size_t size)
{
    char *out = into;
    if (++c->lookups == MP_CACHE_WINDOW) {
        /* Most lookups missed: a larger cache, if memory allows (without
         * it the reading goes on in the one it has). */
        if (c->misses > MP_CACHE_WINDOW / 2 && c->slots < MP_CACHED_PAGES_MAX) {
            (void)cache_resize(c, c->slots * 8);
        }
        c->lookups = c->misses = 0;
    }
    while (size > 0) {
        uintptr_t page = address & ~(MP_PAGE - 1);
        size_t slot = (size_t)(page / MP_PAGE) & (c->slots - 1);
        char *data = c->data + slot * MP_PAGE;
        if (c->page[slot] != page) {
            c->page[slot] = 0;
            c->misses++;
            int e = mp_read_remote(c->pid, page, data, MP_PAGE);
            if (e != 0) {
                return e;
            }
            c->page[slot] = page;
        }
        size_t n = (size_t)(MP_PAGE - (address - page));
        n = n < size ? n : size;
        memcpy(out, data + (address - page), n);
        out += n;
        address += n;
        size -= n;
    }
    return 0;
}

#endif

#if MP_REMOTE && !MP_FREE_THREADED
/* The length of one remote list into *length, or why it is not known
 * into *problem: its head sits at remote_head, and head is the head as
 * read.  Every node's _gc_prev must name the node before it (no
 * collection runs: it is a pointer then), and the head's the last one: a
 * list the target changed while it was read fails that check at once,
 * and a walk that passes it can only end at the head (a node met twice
 * would have two nodes before it).  At most max_steps nodes.  The GIL is
 * released while walking, taken back every MP_STEPS_PER_SLICE nodes to
 * run signal handlers.  0, or -1 with an error set (theirs, or OSError
 * when the target cannot be read). */
static int
walk_remote(mp_page_cache *c, uintptr_t remote_head, const PyGC_Head *head,
            int list, Py_ssize_t max_steps, mp_census *types,
            Py_ssize_t *length, mp_walk_problem *problem)
{
    Py_ssize_t n = 0;
    uintptr_t before = remote_head;
    uintptr_t node = head->_gc_next & ~(uintptr_t)3;
    int e = 0;
    *problem = (mp_walk_problem){NULL, 0};
    PyThreadState *saved = PyEval_SaveThread();
    while (node != remote_head) {
        if (node == 0) {
            *problem = (mp_walk_problem){"a list led to a null pointer (the "
                                      "target changed it while it was read)", 1};
            break;
        }
        if (++n > max_steps) {
            *problem = (mp_walk_problem){"a list is longer than the step cap "
                                      "(max_steps)", 0};
            break;
        }
        if (n % MP_STEPS_PER_SLICE == 0) {
            PyEval_RestoreThread(saved);
            if (PyErr_CheckSignals() < 0) {
                return -1;
            }
            saved = PyEval_SaveThread();
        }
        PyGC_Head g;
        e = mp_read_cached(c, node, &g, sizeof(g));
        if (e == EFAULT) {
            *problem = (mp_walk_problem){"a list led outside the target's memory "
                                      "(the target changed it while it was "
                                      "read)", 1};
            break;
        }
        if (e != 0) {
            break;
        }
        if ((g._gc_prev & _PyGC_PREV_MASK) != before) {
            *problem = (mp_walk_problem){"a list's links disagreed (the target "
                                      "changed it while it was read)", 1};
            break;
        }
        if (types != NULL) {
            PyObject ob;
            e = mp_read_cached(c, node + sizeof(PyGC_Head), &ob, sizeof(ob));
            if (e == 0 && ob.ob_type == NULL) {
                e = EFAULT;
            }
            if (e == EFAULT) {
                *problem = (mp_walk_problem){"an object's header led outside the "
                                          "target's memory (the target changed "
                                          "it while it was read)", 1};
                break;
            }
            if (e == 0 && mp_census_count(types, ob.ob_type, list, 1) != 0) {
                e = ENOMEM;
            }
            if (e != 0) {
                break;
            }
        }
        before = node;
        node = g._gc_next & ~(uintptr_t)3;
    }
    PyEval_RestoreThread(saved);
    if (e == ENOMEM) {
        PyErr_NoMemory();
        return -1;
    }
    if (e != 0 && e != EFAULT) {
        mp_raise_errno(e);
        return -1;
    }
    if (problem->why == NULL && (head->_gc_prev & _PyGC_PREV_MASK) != before) {
        *problem = (mp_walk_problem){"a list's head does not lead back to its "
                                  "last object (the target changed it while "
                                  "it was read)", 1};
    }
    *length = n;
    return 0;
}

#endif

#if MP_REMOTE
/* Longest type or module name read (longer ones are cut, or not read). */
#define MP_TYPE_NAME 256
/* Slots a remote census starts with (the table doubles as it fills). */
#define MP_REMOTE_TYPES 256
/* Entries of a type's dict looked through for its __module__. */
#define MP_DICT_ENTRIES_MAX 4096

/* The C string at address, into out (size bytes, cut there): 1, or 0 when
 * it cannot be read. */
static int
read_c_string(mp_page_cache *c, uintptr_t address, char *out, size_t size)
{
    out[0] = '\0';
    for (size_t k = 0; address != 0 && k < size - 1; k++) {
        out[k + 1] = '\0';
        if (mp_read_cached(c, address + k, &out[k], 1) != 0) {
            return 0;
        }
        if (out[k] == '\0') {
            break;
        }
    }
    return address != 0;
}

/* The compact ASCII str object at address (its type the target's str,
 * at str_type), into out (size bytes): 1, or 0 when it is not one, is
 * longer, or cannot be read. */
static int
read_ascii(mp_page_cache *c, uintptr_t str_type, uintptr_t address, char *out,
           size_t size)
{
    PyASCIIObject str;
    if (address == 0 || mp_read_cached(c, address, &str, sizeof(str)) != 0
        || (uintptr_t)Py_TYPE((PyObject *)&str) != str_type
        || !str.state.compact || !str.state.ascii || str.length < 0
        || (size_t)str.length >= size
        || mp_read_cached(c, address + sizeof(str), out, (size_t)str.length) != 0) {
        return 0;
    }
    out[str.length] = '\0';
    for (Py_ssize_t i = 0; i < str.length; i++) {
        unsigned char ch = (unsigned char)out[i];
        if (ch == 0 || ch >= 0x80) {
            return 0;               /* a NUL, or not ASCII */
        }
    }
    return 1;
}

/* The str that the dict at address maps `key` to (both ASCII), into out:
 * 1, or 0 when it is not found or cannot be read.  The dict's keys table
 * and entries are read as compat.h lays them out. */
static int
read_dict_str(mp_page_cache *c, uintptr_t str_type, uintptr_t address,
              const char *key, char *out, size_t size)
{
    PyDictObject dict;
    mp_dict_keys keys;
    if (address == 0 || mp_read_cached(c, address, &dict, sizeof(dict)) != 0
        || dict.ma_values != NULL || dict.ma_keys == NULL
        || mp_read_cached(c, (uintptr_t)dict.ma_keys, &keys, sizeof(keys)) != 0
        || keys.dk_nentries < 0 || keys.dk_nentries > MP_DICT_ENTRIES_MAX
        || mp_dict_index_bytes(&keys) > (size_t)1 << 30) {
        return 0;
    }
    int general = mp_dict_general(&keys);
    uintptr_t entries = (uintptr_t)dict.ma_keys
                        + offsetof(mp_dict_keys, dk_indices)
                        + mp_dict_index_bytes(&keys);
    for (Py_ssize_t i = 0; i < keys.dk_nentries; i++) {
        uintptr_t entry = entries + (size_t)i * MP_DICT_ENTRY(general);
        uintptr_t name = 0, value = 0;
        char seen[32];
        if (mp_read_cached(c, entry + MP_DICT_KEY_AT(general), &name,
                           sizeof(name)) != 0
            || mp_read_cached(c, entry + MP_DICT_VALUE_AT(general), &value,
                              sizeof(value)) != 0) {
            return 0;
        }
        if (read_ascii(c, str_type, name, seen, sizeof(seen))
            && strcmp(seen, key) == 0) {
            return read_ascii(c, str_type, value, out, size);
        }
    }
    return 0;
}

/* What a census row says of its type, read before any object is built. */
typedef struct {
    char name[MP_TYPE_NAME];    /* tp_name */
    char module[MP_TYPE_NAME];  /* a heap type's __module__ */
    char named, heap, moduled;  /* name read; a heap type; module read */
} type_facts;

/* The type at address: its tp_name, and whether it is a heap type (whose
 * tp_name is its bare name), then its dict's __module__ (str_type: where
 * the target's str type is, 0 when not known). */
static void
read_type(mp_page_cache *c, uintptr_t str_type, uintptr_t address,
          type_facts *f)
{
    PyTypeObject type;
    memset(f, 0, sizeof(*f));
    if (mp_read_cached(c, address, &type, sizeof(type)) != 0) {
        return;
    }
    f->named = read_c_string(c, (uintptr_t)type.tp_name, f->name,
                             sizeof(f->name));
    f->heap = (type.tp_flags & Py_TPFLAGS_HEAPTYPE) != 0;
    f->moduled = f->heap && str_type != 0
                 && read_dict_str(c, str_type, (uintptr_t)type.tp_dict,
                                  "__module__", f->module, sizeof(f->module));
}

/* A value for Py_BuildValue's "N": the text, or None. */
static PyObject *
bytes_or_none(int known, const char *text)
{
    return known ? PyBytes_FromString(text) : Py_NewRef(Py_None);
}

/* Where the target's str type is: as far from its _PyRuntime as this
 * process's is from ours (the same build), checked by reading its
 * tp_name there; 0 when it does not read as str. */
static uintptr_t
str_type_of(mp_page_cache *c, uintptr_t runtime)
{
    uintptr_t at = runtime + ((uintptr_t)&PyUnicode_Type - (uintptr_t)&_PyRuntime);
    uintptr_t name = 0;
    char text[8];
    if (mp_read_cached(c, at + offsetof(PyTypeObject, tp_name), &name,
                       sizeof(name)) != 0
        || !read_c_string(c, name, text, sizeof(text)) || strcmp(text, "str") != 0) {
        return 0;
    }
    return at;
}

PyObject *
mp_census_rows(mp_page_cache *c, uintptr_t runtime, const mp_census *t)
{
    type_facts *facts = PyMem_RawMalloc(t->used ? t->used * sizeof(*facts) : 1);
    if (facts == NULL) {
        return PyErr_NoMemory();
    }
    uintptr_t str_type = str_type_of(c, runtime);
    size_t n = 0;
    for (size_t i = 0; i <= t->mask; i++) {
        if (t->slots[i].type != NULL) {
            read_type(c, str_type, (uintptr_t)t->slots[i].type, &facts[n++]);
        }
    }
    PyObject *rows = PyTuple_New((Py_ssize_t)t->used);
    n = 0;
    for (size_t i = 0; rows != NULL && i <= t->mask; i++) {
        const mp_census_slot *slot = &t->slots[i];
        if (slot->type == NULL) {
            continue;
        }
        Py_ssize_t objects = 0;
        for (int list = 0; list < MP_NUM_LISTS; list++) {
            objects += slot->count[list];
        }
        const type_facts *f = &facts[n];
        PyObject *row = Py_BuildValue(
            "(KNONn)", (unsigned long long)(uintptr_t)slot->type,
            bytes_or_none(f->named, f->name), f->heap ? Py_True : Py_False,
            bytes_or_none(f->moduled, f->module), objects);
        if (row == NULL) {
            Py_CLEAR(rows);
            break;
        }
        PyTuple_SET_ITEM(rows, (Py_ssize_t)n++, row);
    }
    PyMem_RawFree(facts);
    return rows;
}
#endif

#if MP_REMOTE && MP_FREE_THREADED
/* Why a free-threaded target's lengths are not read. */
#define FREE_THREADED_LISTS \
    "the lists were not walked: a free-threaded collector keeps no lists " \
    "(its objects are counted on mimalloc's heaps: _remote_heaps)"

/* The most thread states followed in one interpreter's list. */
#define MP_MAX_THREADS 100000

/* The allocations every thread of the interpreter copied from address
 * counted but did not add to the young count yet, into *sum (3.14+: 0
 * before): 0, or an errno (EFAULT: the list led outside the target's
 * memory, or is longer than MP_MAX_THREADS). */
static int
thread_batches(pid_t pid, const PyInterpreterState *copy, uintptr_t address,
               Py_ssize_t *sum)
{
    *sum = 0;
#if MP_GC_THREAD_BATCHES
    uintptr_t t = (uintptr_t)copy->threads.head;
    for (int n = 0; t != 0; n++) {
        PyThreadState ts;
        Py_ssize_t batch;
        int e = n < MP_MAX_THREADS ? mp_read_remote(pid, t, &ts, sizeof(ts)) : EFAULT;
        if (e == 0 && (uintptr_t)ts.interp != address) {
            e = EFAULT;         /* not a thread of this interpreter */
        }
        if (e == 0) {
            e = mp_read_remote(pid, t + MP_GC_BATCH_OFFSET, &batch, sizeof(batch));
        }
        if (e != 0) {
            return e;
        }
        *sum += batch;
        t = (uintptr_t)ts.next;
    }
#else
    (void)pid;
    (void)copy;
    (void)address;
#endif
    return 0;
}
#endif

/* _remote_gc(pid, runtime_address, interp_address, max_steps, census) ->
 * (gc, partial, changed, census): gc is _gc_state()'s tuple for the
 * interpreter state at interp_address in process pid, with the lengths of
 * its lists walked when max_steps > 0 (None where not walked); partial is
 * None, or why the lengths are missing, and changed whether that is the
 * target collecting or changing a list while it was read (a reading a
 * moment later may succeed).  census: with census true and the lists
 * walked, mp_census_rows() over every list; else None.  The copy must point
 * back to runtime_address (else MemprobeError); OSError when the target
 * cannot be read. */
static PyObject *
remote_gc(PyObject *module, PyObject *args)
{
    long pid;
    unsigned long long runtime, address;
    Py_ssize_t max_steps;
    int census;
    if (!PyArg_ParseTuple(args, "lKKnp", &pid, &runtime, &address, &max_steps,
                          &census)
        || check_pid(pid) < 0) {
        return NULL;
    }
    /* The offsets are this build's, checked at import against ours. */
    mp_state *st = mp_probe_state(module, MP_PART_GC);
    if (st == NULL) {
        return NULL;
    }
#if !MP_REMOTE
    return not_here(st);
#elif MP_FREE_THREADED
    (void)census;
    PyInterpreterState *copy = read_interp(st, pid, (uintptr_t)runtime,
                                           (uintptr_t)address);
    if (copy == NULL) {
        return NULL;
    }
    mp_gc_reading r;
    mp_gc_read_of(copy, &r);
    for (int i = 0; i < MP_NUM_GENERATIONS; i++) {
        r.count[i] = mp_gc_count_shared(copy, i);
    }
    Py_ssize_t batches = 0;
    int e = thread_batches((pid_t)pid, copy, (uintptr_t)address, &batches);
    PyMem_RawFree(copy);
    if (e != 0) {
        return mp_raise_errno(e);
    }
    r.count[0] += (int)batches;
    PyObject *gc = mp_gc_build(&r);
    if (gc == NULL) {
        return NULL;
    }
    return Py_BuildValue("(NzOO)", gc, max_steps > 0 ? FREE_THREADED_LISTS : NULL,
                         Py_False, Py_None);
#else
    PyInterpreterState *copy = read_interp(st, pid, (uintptr_t)runtime,
                                           (uintptr_t)address);
    if (copy == NULL) {
        return NULL;
    }
    mp_page_cache pages, *cache = &pages;
    if (mp_cache_open(cache, (pid_t)pid) < 0) {
        PyMem_RawFree(copy);
        return NULL;
    }
    mp_gc_reading r;
    mp_gc_read_of(copy, &r);
    mp_census types = {0};
    mp_census *counting = census && max_steps > 0 ? &types : NULL;
    if (counting != NULL && mp_census_init(counting, MP_REMOTE_TYPES) < 0) {
        mp_cache_close(cache);
        PyMem_RawFree(copy);
        return PyErr_NoMemory();
    }
    mp_walk_problem problem = {NULL, 0};
    int failed = 0;
    if (max_steps > 0 && r.collecting) {
        problem = (mp_walk_problem){"the target was collecting: its lists were "
                                 "not walked", 1};
    }
    for (int list = 0; max_steps > 0 && problem.why == NULL && list < MP_NUM_LISTS;
         list++) {
        PyGC_Head *head = mp_gc_list_head(copy, list);
        uintptr_t remote_head = (uintptr_t)address
                                + (uintptr_t)((char *)head - (char *)copy);
        if (walk_remote(cache, remote_head, head, list, max_steps, counting,
                        &r.length[list], &problem) < 0) {
            failed = 1;
            break;
        }
    }
    PyMem_RawFree(copy);
    PyObject *rows = NULL;
    if (!failed && counting != NULL && problem.why == NULL) {
        rows = mp_census_rows(cache, (uintptr_t)runtime, counting);
        failed = rows == NULL;
    }
    mp_census_release(&types);
    mp_cache_close(cache);
    if (failed) {
        return NULL;
    }
    if (problem.why != NULL) {
        for (int list = 0; list < MP_NUM_LISTS; list++) {
            r.length[list] = -1;
        }
    }
    /* Everything is read: only now are Python objects built. */
    PyObject *gc = mp_gc_build(&r);
    if (gc == NULL) {
        Py_XDECREF(rows);
        return NULL;
    }
    return Py_BuildValue("(NzNN)", gc, problem.why,
                         PyBool_FromLong(problem.changed),
                         rows ? rows : Py_NewRef(Py_None));
#endif
}

/* ---- mimalloc (free-threaded builds) ------------------------------------ */

/* _remote_heaps(pid, runtime_address, interp_address, objects, census) ->
 * (mimalloc, tracked, frozen, problem, changed, census, obj_ctx,
 * obj_malloc, debug_obj, attached) of the free-threaded interpreter at
 * interp_address in process pid: mimalloc is _mimalloc()'s tuple for its
 * heaps, or None with problem saying why the walk did not complete, and
 * changed whether that is the target changing its heaps while they were
 * read (a reading a moment later may succeed).  With objects, tracked is
 * how many tracked, unfrozen objects its GC heaps hold (gc.get_objects())
 * and frozen how many frozen ones (gc.get_freeze_count()); with census
 * too, census is mp_census_rows() over both; each is None when not
 * counted (problem then says why).  obj_ctx, obj_malloc and debug_obj as
 * _remote_pymalloc gives them; attached, the native ids of the threads
 * whose states were attached (running Python: see remote_heaps.c), a 0
 * last when there were too many to name. */
static PyObject *
remote_heaps(PyObject *module, PyObject *args)
{
    long pid;
    unsigned long long runtime, address;
    int objects, census;
    if (!PyArg_ParseTuple(args, "lKKpp", &pid, &runtime, &address, &objects,
                          &census)
        || check_pid(pid) < 0) {
        return NULL;
    }
    mp_state *st = mp_probe_state(module, MP_PART_MIMALLOC);
    if (st == NULL) {
        return NULL;
    }
#if !MP_REMOTE
    return not_here(st);
#elif !(MP_FREE_THREADED && MP_HAVE_MIMALLOC)
    (void)objects;
    (void)census;
    PyErr_SetString(st->unsupported, "only free-threaded builds keep every "
                    "object in mimalloc's heaps (attach reads this build's "
                    "collector lists and pymalloc instead)");
    return NULL;
#else
    PyInterpreterState *copy = read_interp(st, pid, (uintptr_t)runtime,
                                           (uintptr_t)address);
    if (copy == NULL) {
        return NULL;
    }
    PyMemAllocatorEx obj;
    int e = mp_read_remote((pid_t)pid, (uintptr_t)runtime
                           + offsetof(_PyRuntimeState, allocators.standard.obj),
                           &obj, sizeof(obj));
    if (e != 0) {
        PyMem_RawFree(copy);
        return mp_raise_errno(e);
    }
    mp_gc_reading gc;
    mp_gc_read_of(copy, &gc);
    /* A collection under way reuses ob_tid and moves objects' bits: the
     * objects are counted a moment later (a reading again may succeed). */
    const char *uncounted = NULL;
    int collecting = objects && gc.collecting;
    if (collecting) {
        uncounted = "the target was collecting: its objects were not counted";
        objects = 0;
    }
    mp_page_cache pages, *cache = &pages;
    mp_mimalloc_reading *rows = mp_mimalloc_new();
    mp_census types = {0};
    mp_census *counting = objects && census ? &types : NULL;
    if (rows == NULL || (counting != NULL
                         && mp_census_init(counting, MP_REMOTE_TYPES) < 0)) {
        mp_mimalloc_release(rows);
        PyMem_RawFree(copy);
        return PyErr_NoMemory();
    }
    if (mp_cache_open(cache, (pid_t)pid) < 0) {
        mp_census_release(&types);
        mp_mimalloc_release(rows);
        PyMem_RawFree(copy);
        return NULL;
    }
    Py_ssize_t tracked = 0, frozen = 0;
    mp_walk_problem problem = {NULL, 0};
    const char *missing = NULL;
    PyObject *attached = NULL;
    int rc = mp_remote_heaps(cache, copy, (uintptr_t)address, rows, objects,
                             counting, &tracked, &frozen, &missing, &problem,
                             &attached);
    PyMem_RawFree(copy);
    uncounted = uncounted ? uncounted : missing;
    PyObject *names = NULL;
    if (rc == 0 && counting != NULL && problem.why == NULL && uncounted == NULL) {
        names = mp_census_rows(cache, (uintptr_t)runtime, counting);
        rc = names == NULL ? -1 : 0;
    }
    mp_census_release(&types);
    mp_cache_close(cache);
    /* Everything is read: only now are Python objects built. */
    PyObject *heaps = NULL;
    if (rc == 0) {
        heaps = problem.why ? Py_NewRef(Py_None) : mp_mimalloc_build(rows);
    }
    mp_mimalloc_release(rows);
    if (heaps == NULL) {
        Py_XDECREF(names);
        Py_XDECREF(attached);
        return NULL;
    }
    int counted = objects && problem.why == NULL && uncounted == NULL;
    return Py_BuildValue(
        "(NNNzNNKKKN)", heaps,
        counted ? PyLong_FromSsize_t(tracked) : Py_NewRef(Py_None),
        counted ? PyLong_FromSsize_t(frozen) : Py_NewRef(Py_None),
        problem.why ? problem.why : uncounted,
        PyBool_FromLong(problem.changed || collecting),
        names ? names : Py_NewRef(Py_None),
        (unsigned long long)(uintptr_t)obj.ctx,
        (unsigned long long)(uintptr_t)obj.malloc,
        (unsigned long long)(runtime + offsetof(_PyRuntimeState,
                                                allocators.debug.obj)),
        attached);
#endif
}

/* ---- pymalloc ---------------------------------------------------------------- */

/* 3.9-3.11: obmalloc.c's statics (compat.h's MP_OBMALLOC_STATICS), each
 * read into its field here, their names and sizes as this build has
 * them.  3.12+ has none: the state is in the interpreter. */
typedef struct {
    char unused;
#define MP_FIELD(name, type) type name;
    MP_OBMALLOC_STATICS(MP_FIELD)
#undef MP_FIELD
} obmalloc_statics;

#define MP_INDEX(name, type) STATIC_##name,
enum { MP_OBMALLOC_STATICS(MP_INDEX) MP_NSTATICS };
#define MP_NAME(name, type) #name,
#define MP_SIZE(name, type) sizeof(type),
#define MP_OFFSET(name, type) offsetof(obmalloc_statics, name),
static const char *const static_names[] = {MP_OBMALLOC_STATICS(MP_NAME) NULL};
static const size_t static_sizes[] = {MP_OBMALLOC_STATICS(MP_SIZE) 0};
#if !MP_HAVE_OBMALLOC_STATE
static const size_t static_offsets[] = {MP_OBMALLOC_STATICS(MP_OFFSET) 0};
#endif
#undef MP_INDEX
#undef MP_NAME
#undef MP_SIZE
#undef MP_OFFSET

/* The addresses of the statics, from statics: one (address, size) pair
 * per name of static_names, each size the one this build has.  0, or -1
 * with TypeError, or UnsupportedInterpreter for a size that differs. */
static int
static_addresses(mp_state *st, PyObject *statics, uintptr_t *at)
{
    if (!PyTuple_Check(statics) || PyTuple_GET_SIZE(statics) != MP_NSTATICS) {
        PyErr_Format(PyExc_TypeError, "statics must be a tuple of %d "
                     "(address, size) pairs", (int)MP_NSTATICS);
        return -1;
    }
    for (int i = 0; static_names[i] != NULL; i++) {
        unsigned long long address;
        Py_ssize_t size;
        PyObject *pair = PyTuple_GET_ITEM(statics, i);
        if (!PyTuple_Check(pair)) {
            PyErr_SetString(PyExc_TypeError, "statics holds (address, size) "
                            "tuples");
            return -1;
        }
        if (!PyArg_ParseTuple(pair, "Kn;statics holds (address, size) pairs",
                              &address, &size)) {
            return -1;
        }
        if (size < 0 || (size_t)size != static_sizes[i]) {
            PyErr_Format(st->unsupported, "the target's obmalloc.c "
                         "variable %s takes %zd bytes where this build's "
                         "takes %zu: its pymalloc is not laid out as "
                         "memprobe reads it", static_names[i], size,
                         static_sizes[i]);
            return -1;
        }
        at[i] = (uintptr_t)address;
    }
    return 0;
}

#if MP_REMOTE && MP_HAVE_POOL_LAYOUT
/* The most arena slots a target's table may have: its copy stays within
 * one read. */
#define MP_REMOTE_MAX_ARENAS ((unsigned int)(MP_REMOTE_READ_MAX / sizeof(mp_arena)))

/* mp_pool_source's read for process *(pid_t *)ctx: the n headers in one
 * process_vm_readv. */
static int
read_pools(void *ctx, uintptr_t first, unsigned int n, mp_pool *into)
{
    struct iovec local[MP_MAX_POOLS_PER_ARENA], remote[MP_MAX_POOLS_PER_ARENA];
    if (n > MP_MAX_POOLS_PER_ARENA) {
        return EFAULT;
    }
    for (unsigned int k = 0; k < n; k++) {
        local[k].iov_base = &into[k];
        local[k].iov_len = sizeof(mp_pool);
        remote[k].iov_base = (void *)(first + (uintptr_t)k * MP_POOL_SIZE);
        remote[k].iov_len = sizeof(mp_pool);
    }
    return mp_read_remote_v(*(pid_t *)ctx, local, remote, n);
}

/* What the target keeps beside its arenas, and where they are. */
typedef struct {
    mp_pymalloc_totals totals;
    uintptr_t arenas;           /* the arena table */
    uintptr_t obj_ctx;          /* the object allocator's context */
    uintptr_t obj_malloc;       /* and its malloc function */
    uintptr_t debug_obj;        /* the debug layer's object allocator */
} pymalloc_roots;

/* The target's roots: 3.12+ from its interpreter's mgmt (at mgmt_at) and
 * its _PyRuntime.allocators; 3.9-3.11 from obmalloc.c's statics at
 * at[], in one read.  0, or an errno. */
static int
read_roots(pid_t pid, uintptr_t runtime, uintptr_t mgmt_at,
           const uintptr_t *at, pymalloc_roots *r)
{
    PyMemAllocatorEx obj = {0};
#if MP_HAVE_OBMALLOC_STATE
    (void)at;
    struct _obmalloc_mgmt mgmt;
    int e = mp_read_remote(pid, mgmt_at, &mgmt, sizeof(mgmt));
    if (e == 0) {
        e = mp_read_remote(pid, runtime + offsetof(_PyRuntimeState,
                                                allocators.standard.obj),
                        &obj, sizeof(obj));
    }
    if (e != 0) {
        return e;
    }
    r->totals = (mp_pymalloc_totals){mgmt.maxarenas,
                                     mgmt.ntimes_arena_allocated,
                                     mgmt.narenas_highwater,
                                     mgmt.raw_allocated_blocks};
    r->arenas = (uintptr_t)mgmt.arenas;
    r->debug_obj = runtime + offsetof(_PyRuntimeState, allocators.debug.obj);
#else
    (void)runtime;
    (void)mgmt_at;
    obmalloc_statics s;
    struct iovec local[MP_NSTATICS], remote[MP_NSTATICS];
    for (int i = 0; i < MP_NSTATICS; i++) {
        local[i].iov_base = (char *)&s + static_offsets[i];
        local[i].iov_len = remote[i].iov_len = static_sizes[i];
        remote[i].iov_base = (void *)at[i];
    }
    int e = mp_read_remote_v(pid, local, remote, MP_NSTATICS);
    if (e != 0) {
        return e;
    }
    obj = s._PyObject;
    r->totals = (mp_pymalloc_totals){s.maxarenas, s.ntimes_arena_allocated,
                                     s.narenas_highwater,
                                     s.raw_allocated_blocks};
    r->arenas = (uintptr_t)s.arenas;
    r->debug_obj = at[STATIC__PyMem_Debug] + offsetof(mp_debug_apis, obj);
#endif
    r->obj_ctx = (uintptr_t)obj.ctx;
    r->obj_malloc = (uintptr_t)obj.malloc;
    return 0;
}

/* The target's pymalloc read into *out (or why not into *problem): its
 * arena table and its pools' headers, after its roots.  0, or an errno. */
static int
read_pymalloc(pid_t pid, const pymalloc_roots *roots,
              mp_pymalloc_reading **out, const char **problem)
{
    unsigned int maxarenas = roots->totals.maxarenas;
    *out = NULL;
    *problem = NULL;
    if (maxarenas > MP_REMOTE_MAX_ARENAS
        || (maxarenas > 0 && roots->arenas == 0)) {
        *problem = "the arena table's size is not believable";
        return 0;
    }
    size_t size = (size_t)maxarenas * sizeof(mp_arena);
    mp_arena *arenas = PyMem_RawMalloc(size ? size : 1);
    if (arenas == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    int e = size ? mp_read_remote(pid, roots->arenas, arenas, size) : 0;
    mp_pool_source src = {read_pools, &pid};
    if (e == 0) {
        e = mp_pymalloc_read_from(&roots->totals, arenas, &src, out, problem);
    }
    PyMem_RawFree(arenas);
    return e;
}
#endif

/* _remote_pymalloc(pid, runtime_address, interp_address, statics) ->
 * (state, problem, modules, obj_ctx, obj_malloc, debug_obj): state is
 * _pymalloc_state(True)'s 3.12+ tuple for the allocator state of the
 * interpreter at interp_address in process pid, or None with problem
 * saying why the copy does not hold together (a running target changed
 * its arenas while they were read).  statics: before 3.12, where
 * obmalloc.c's variables named OBMALLOC_STATICS are in the target, with
 * their sizes; () from 3.12.  modules is the address of that
 * interpreter's sys.modules dict (to tell whether pymalloc serves its
 * objects, and whether the debug layer pads them); obj_ctx and obj_malloc
 * the context pointer (NULL for pymalloc itself) and malloc function of
 * its object allocator, and debug_obj where the debug layer's object
 * allocator sits (the context of that layer): any other context is a
 * hook's, such as tracemalloc's. */
static PyObject *
remote_pymalloc(PyObject *module, PyObject *args)
{
    long pid;
    unsigned long long runtime, address;
    PyObject *statics;
    uintptr_t at[MP_NSTATICS + 1];
    if (!PyArg_ParseTuple(args, "lKKO", &pid, &runtime, &address, &statics)
        || check_pid(pid) < 0) {
        return NULL;
    }
    mp_state *st = mp_probe_state(module, MP_PART_PYMALLOC);
    if (st == NULL || static_addresses(st, statics, at) < 0) {
        return NULL;
    }
#if !MP_REMOTE
    return not_here(st);
#elif !MP_HAVE_POOL_LAYOUT
    if (MP_FREE_THREADED) {
        PyErr_SetString(st->unsupported, "free-threaded builds allocate "
                        "objects with mimalloc, whose heaps _remote_heaps "
                        "reads");
    }
    else {
        PyErr_SetString(st->unsupported, "the target's objects come from "
                        "another allocator: this CPython was built "
                        "--without-pymalloc");
    }
    return NULL;
#else
    PyInterpreterState *copy = read_interp(st, pid, (uintptr_t)runtime,
                                           (uintptr_t)address);
    if (copy == NULL) {
        return NULL;
    }
#  if MP_HAVE_OBMALLOC_STATE
    uintptr_t mgmt_at = mp_obmalloc_mgmt_at(copy, (uintptr_t)address);
#  else
    uintptr_t mgmt_at = 0;
#  endif
    uintptr_t modules = mp_interp_modules(copy);
    PyMem_RawFree(copy);
    pymalloc_roots roots = {{0}};
    mp_pymalloc_reading *reading = NULL;
    const char *problem = NULL;
    int e = read_roots((pid_t)pid, (uintptr_t)runtime, mgmt_at, at, &roots);
    if (e == 0) {
        e = read_pymalloc((pid_t)pid, &roots, &reading, &problem);
    }
    if (e == EFAULT) {
        problem = "pymalloc's state led outside the target's memory";
    }
    else if (e != 0) {
        return e > 0 ? mp_raise_errno(e) : NULL;
    }
    /* Everything is read: only now are Python objects built. */
    PyObject *state = reading ? mp_pymalloc_build(reading) : Py_NewRef(Py_None);
    mp_pymalloc_release(reading);
    if (state == NULL) {
        return NULL;
    }
    return Py_BuildValue("(NzKKKK)", state, problem,
                         (unsigned long long)modules,
                         (unsigned long long)roots.obj_ctx,
                         (unsigned long long)roots.obj_malloc,
                         (unsigned long long)roots.debug_obj);
#endif
}

static PyMethodDef remote_methods[] = {
    {"_remote_layout", remote_layout, METH_NOARGS,
     "_remote_layout()\n--\n\n(main_offset, debug_offsets or None) of "
     "this process's _PyRuntime."},
    {"_remote_read", remote_read, METH_VARARGS,
     "_remote_read(pid, address, size, /)\n--\n\nsize bytes read from "
     "process pid at address."},
    {"_remote_gc", remote_gc, METH_VARARGS,
     "_remote_gc(pid, runtime_address, interp_address, max_steps, census, /)"
     "\n--\n\n(gc state tuple, why the lengths are missing or None, "
     "whether the target changed them under the reading, "
     "census rows or None)."},
    {"_remote_heaps", remote_heaps, METH_VARARGS,
     "_remote_heaps(pid, runtime_address, interp_address, objects, census, /)"
     "\n--\n\n"
     "(mimalloc heaps tuple or None, tracked and frozen objects or None, why "
     "any is "
     "None, whether the target changed them under the reading, census rows "
     "or None, object allocator's ctx and malloc, debug layer's address, "
     "native ids of the threads running Python)."},
    {"_remote_pymalloc", remote_pymalloc, METH_VARARGS,
     "_remote_pymalloc(pid, runtime_address, interp_address, statics, /)"
     "\n--\n\n"
     "(pymalloc state tuple or None, why None, modules address, object "
     "allocator's ctx and malloc, debug layer's address)."},
    {NULL, NULL, 0, NULL}
};

int
mp_init_remote(PyObject *module, mp_state *st)
{
    (void)st;
    PyObject *names = PyTuple_New(MP_NSTATICS);
    for (int i = 0; names != NULL && static_names[i] != NULL; i++) {
        PyObject *name = PyUnicode_FromString(static_names[i]);
        if (name == NULL) {
            Py_CLEAR(names);
            break;
        }
        PyTuple_SET_ITEM(names, i, name);
    }
    int rc = names ? PyModule_AddObjectRef(module, "OBMALLOC_STATICS", names)
                   : -1;
    Py_XDECREF(names);
    return rc < 0 ? -1 : PyModule_AddFunctions(module, remote_methods);
}
