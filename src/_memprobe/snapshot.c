/* snapshot.c: the parts of a snapshot, read at one moment.
 *
 * Reads, in this order and before any Python object is built: the
 * collector's state (PyInterpreterState.gc, gc.c), the census of its lists
 * (census.c, which also gives each list's length: one walk), pymalloc's
 * state or, before 3.12, its report (pymalloc.c), mimalloc's heaps
 * (mimalloc.c), and the count behind sys.getallocatedblocks(); when asked,
 * first, pymalloc's blocks by type (blocks.c: gathering the known types
 * makes and frees a few lists, gone before the rest is read).  A part
 * that cannot be read leaves a refusal in C memory, made a str only once
 * everything is read.  memprobe/_snapshot.py builds the Snapshot.
 */
#include "parts.h"

/* What _snapshot(parts) reads; the argument is one int of these bits (a
 * tuple of arguments would itself be a young object in the lists being
 * counted). */
#define MP_READ_GC 1            /* the collector's state */
#define MP_READ_CENSUS 2        /* every list, per type (and so lengths) */
#define MP_READ_PYMALLOC 4
#define MP_READ_MIMALLOC 8
#define MP_READ_FROZEN 16       /* the census walks the permanent list too */
#define MP_READ_BLOCKS 32       /* pymalloc's blocks by type */
#define MP_READ_ALL 63

typedef struct {
    int parts;
    mp_gc_reading gc;
    mp_census census;
    mp_pymalloc_reading *pymalloc;
    mp_refusal pymalloc_refusal;
    mp_mimalloc_reading *mimalloc;
    mp_refusal mimalloc_refusal;
    mp_blocks_reading *blocks;
    mp_refusal blocks_refusal;
    Py_ssize_t allocated_blocks;    /* -1: read after, through sys */
} snapshot_reading;

static void
release(snapshot_reading *r)
{
    mp_census_release(&r->census);
    mp_pymalloc_release(r->pymalloc);
    mp_mimalloc_release(r->mimalloc);
    mp_blocks_release(r->blocks);
}

/* Every part asked for, into *r: 0, or -1 with an error set. */
static int
read_parts(mp_state *st, snapshot_reading *r)
{
    if (mp_allocated_blocks() < 0) {
        /* The count is read through sys after the other parts, and that
         * call's int result is freed after it: where ints have a free list
         * (3.14+) it keeps that block, which the next reading would count.
         * An int made and freed first puts a block there already, for the
         * call to take and give back: every reading sees the same.  (Only
         * a one-digit int, as a count of blocks is, goes to that list.) */
        PyObject *sized_like_a_count = PyLong_FromSsize_t(1 << 20);
        if (sized_like_a_count == NULL) {
            return -1;
        }
        Py_DECREF(sized_like_a_count);
    }
    if ((r->parts & MP_READ_BLOCKS)
        && mp_blocks_read(st, 0, &r->blocks, &r->blocks_refusal) < 0) {
        return -1;
    }
    if (r->parts & MP_READ_GC) {
        mp_gc_read(&r->gc);
    }
    unsigned lists = (r->parts & MP_READ_FROZEN) ? MP_EVERY_LIST
                                                 : MP_UNFROZEN_LISTS;
    if ((r->parts & MP_READ_CENSUS)
        && mp_census_read(st, lists, &r->census) < 0) {
        return -1;
    }
    if (r->parts & MP_READ_PYMALLOC) {
        if (mp_pymalloc_read(st, 0, &r->pymalloc, &r->pymalloc_refusal) < 0) {
            return -1;
        }
        if (r->pymalloc != NULL) {
            r->allocated_blocks = mp_pymalloc_allocated_blocks(r->pymalloc);
        }
    }
    if ((r->parts & MP_READ_MIMALLOC)
        && mp_mimalloc_read(st, &r->mimalloc, &r->mimalloc_refusal) < 0) {
        return -1;
    }
    if (r->allocated_blocks < 0) {
        r->allocated_blocks = mp_allocated_blocks();
    }
    return 0;
}

/* The count behind sys.getallocatedblocks(): read with pymalloc's report
 * (before 3.12), else now.  MP_BLOCKS_NOT_COUNTED where it counts nothing;
 * -1 with an error set. */
static Py_ssize_t
allocated_blocks(mp_state *st, const snapshot_reading *r)
{
    return r->allocated_blocks >= 0 ? mp_blocks_counted(r->allocated_blocks)
                                    : mp_allocated_blocks_now(st);
}

/* (part, None) when read, (None, why) when refused. */
static PyObject *
part_or_why(mp_state *st, int asked, const void *reading,
            PyObject *(*build)(const void *), const mp_refusal *refusal)
{
    if (!asked) {
        return Py_NewRef(Py_None);
    }
    PyObject *value = reading ? build(reading)
                              : mp_refusal_text(st, refusal);
    if (value == NULL) {
        return NULL;
    }
    return reading ? Py_BuildValue("(NO)", value, Py_None)
                   : Py_BuildValue("(ON)", Py_None, value);
}

static PyObject *
build_pymalloc(const void *p)
{
    return mp_pymalloc_build(p);
}

static PyObject *
build_mimalloc(const void *m)
{
    return mp_mimalloc_build(m);
}

static PyObject *
build_blocks(const void *b)
{
    return mp_blocks_build(b);
}

/* _snapshot(parts, /) -> (gc, census, pymalloc, mimalloc, blocks,
 * allocated_blocks or None, serial): gc is _gc_state()'s tuple with the
 * lengths the census counted (None where not known); census is what
 * _census() gives after its collecting flag (mp_census_build), memprobe's
 * own results left out; pymalloc, mimalloc and blocks are (part, None) or
 * (None, why) as _pymalloc_state(False), _mimalloc() and _block_census()
 * give them; each is None when not asked for.  serial numbers this
 * module's readings in the order they were taken. */
static PyObject *
snapshot(PyObject *module, PyObject *parts_arg)
{
    long parts = PyLong_CheckExact(parts_arg) ? PyLong_AsLong(parts_arg) : -1;
    if (parts < 0 || parts > MP_READ_ALL) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_ValueError, "_snapshot: parts %R", parts_arg);
        }
        return NULL;
    }
    mp_state *st = mp_module_state(module);
    if (st == NULL) {
        return NULL;
    }
    if (parts & (MP_READ_GC | MP_READ_CENSUS)) {
        mp_refusal refusal;
        if (!mp_check_part(st, MP_PART_GC, &refusal)) {
            return mp_raise_refusal(st, &refusal);
        }
    }
    snapshot_reading r;
    memset(&r, 0, sizeof(r));
    r.parts = (int)parts;
    r.allocated_blocks = -1;
    if (read_parts(st, &r) < 0) {
        release(&r);
        return NULL;
    }
    /* Everything is read: only now are Python objects built. */
    Py_ssize_t count = allocated_blocks(st, &r);
    PyObject *allocated = count == MP_BLOCKS_NOT_COUNTED ? Py_NewRef(Py_None)
                          : count >= 0 ? PyLong_FromSsize_t(count) : NULL;
    if (allocated == NULL) {
        release(&r);
        return NULL;
    }
    PyObject *gc = NULL, *census = NULL;
    if (parts & MP_READ_CENSUS) {
        mp_census_lengths(&r.census, r.gc.length);
        census = mp_census_build(st, &r.census);
    }
    else {
        /* No walk: only the lengths of empty lists are known. */
        (void)mp_gc_list_lengths(st, 0, r.gc.length);
        census = Py_NewRef(Py_None);
    }
    if (census != NULL) {
        gc = (parts & MP_READ_GC) ? mp_gc_build(&r.gc) : Py_NewRef(Py_None);
    }
    PyObject *pymalloc = gc ? part_or_why(st, parts & MP_READ_PYMALLOC,
                                          r.pymalloc, build_pymalloc,
                                          &r.pymalloc_refusal) : NULL;
    PyObject *mimalloc = pymalloc ? part_or_why(st, parts & MP_READ_MIMALLOC,
                                                r.mimalloc, build_mimalloc,
                                                &r.mimalloc_refusal) : NULL;
    PyObject *blocks = mimalloc ? part_or_why(st, parts & MP_READ_BLOCKS,
                                              r.blocks, build_blocks,
                                              &r.blocks_refusal) : NULL;
    PyObject *serial = blocks ? PyLong_FromLongLong(++st->readings) : NULL;
    PyObject *result = serial ? PyTuple_Pack(7, gc, census, pymalloc,
                                             mimalloc, blocks, allocated,
                                             serial)
                              : NULL;
    Py_XDECREF(serial);
    Py_XDECREF(gc);
    Py_XDECREF(census);
    Py_XDECREF(pymalloc);
    Py_XDECREF(mimalloc);
    Py_XDECREF(blocks);
    Py_DECREF(allocated);
    release(&r);
    return result;
}

/* _baseline(buffer, /) -> bool.  The allocators read into `buffer`, a
 * bytearray made before the reading so that nothing is allocated after
 * it, as 64-bit words: words used, the reading's serial, allocated blocks
 * (MP_BLOCKS_NOT_COUNTED where not counted), the number of words of
 * pymalloc's pack (-1: not readable) and of mimalloc's, then the two packs
 * (pymalloc.c, mimalloc.c).  Too small a
 * buffer gets words used = -(words needed).  A snapshot keeps this reading
 * of the moment after it was built, so that a later diff leaves out what
 * the snapshot itself holds.  Returns True, or False when the buffer was
 * too small (nothing allocated either way). */
static PyObject *
baseline(PyObject *module, PyObject *buffer)
{
    mp_state *st = mp_module_state(module);
    if (st == NULL) {
        return NULL;
    }
    if (!PyByteArray_CheckExact(buffer)) {
        PyErr_SetString(PyExc_TypeError, "_baseline takes a bytearray");
        return NULL;
    }
    snapshot_reading r;
    memset(&r, 0, sizeof(r));
    r.parts = MP_READ_PYMALLOC | MP_READ_MIMALLOC;
    r.allocated_blocks = -1;
    if (read_parts(st, &r) < 0) {
        release(&r);
        return NULL;
    }
    Py_ssize_t allocated = allocated_blocks(st, &r);
    if (allocated == -1) {
        release(&r);
        return NULL;
    }
    int64_t *words = (int64_t *)PyByteArray_AS_STRING(buffer);
    size_t room = (size_t)PyByteArray_GET_SIZE(buffer) / 8;
    size_t header = 5;
    size_t pm = r.pymalloc ? mp_pymalloc_pack(r.pymalloc, words + header,
                                              room > header ? room - header : 0)
                           : 0;
    size_t at = header + pm;
    size_t mi = r.mimalloc ? mp_mimalloc_pack(r.mimalloc, words + at,
                                              room > at ? room - at : 0)
                           : 0;
    size_t used = at + mi;
    int fits = used <= room;
    if (!fits) {
        if (room > 0) {
            words[0] = -(int64_t)used;
        }
    }
    else {
        words[0] = (int64_t)used;
        words[1] = ++st->readings;
        words[2] = allocated;
        words[3] = r.pymalloc ? (int64_t)pm : -1;
        words[4] = r.mimalloc ? (int64_t)mi : -1;
    }
    release(&r);
    return Py_NewRef(fits ? Py_True : Py_False);
}

static PyMethodDef snapshot_methods[] = {
    {"_baseline", baseline, METH_O,
     "_baseline(buffer, /)\n--\n\nThe allocators read into a bytearray "
     "made before the reading."},
    {"_snapshot", snapshot, METH_O,
     "_snapshot(parts, /)\n--\n\nThe parts asked for (bits: 1 gc, 2 census, "
     "4 pymalloc, 8 mimalloc, 16 the permanent list too, 32 blocks by "
     "type), all read before "
     "any is built."},
    {NULL, NULL, 0, NULL}
};

int
mp_init_snapshot(PyObject *module, mp_state *st)
{
    (void)st;
    if (PyModule_AddIntConstant(module, "READ_GC", MP_READ_GC) < 0
        || PyModule_AddIntConstant(module, "READ_CENSUS", MP_READ_CENSUS) < 0
        || PyModule_AddIntConstant(module, "READ_PYMALLOC", MP_READ_PYMALLOC) < 0
        || PyModule_AddIntConstant(module, "READ_MIMALLOC", MP_READ_MIMALLOC) < 0
        || PyModule_AddIntConstant(module, "READ_FROZEN", MP_READ_FROZEN) < 0
        || PyModule_AddIntConstant(module, "READ_BLOCKS", MP_READ_BLOCKS) < 0) {
        return -1;
    }
    return PyModule_AddFunctions(module, snapshot_methods);
}
