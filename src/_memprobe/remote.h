/* remote.h: reading another process, shared by remote.c (the collector's
 * lists, pymalloc) and remote_heaps.c (a free-threaded process's mimalloc
 * heaps and the objects on them).  Linux only (process_vm_readv); every
 * read is checked, and returns 0 or an errno (a short read, part of a
 * range not mapped, is EFAULT).  Nothing here writes to the target.
 */
#ifndef MEMPROBE_REMOTE_H
#define MEMPROBE_REMOTE_H

#include "parts.h"

#if defined(__linux__)
#  include <errno.h>
#  include <sys/uio.h>
#  define MP_REMOTE 1
#else
#  define MP_REMOTE 0
#endif

#if MP_REMOTE
/* n ranges of process pid, remote[k] into local[k] (of the same lengths),
 * in one process_vm_readv. */
int mp_read_remote_v(pid_t pid, const struct iovec *local,
                     const struct iovec *remote, unsigned long n);
/* size bytes at address in process pid, into buf. */
int mp_read_remote(pid_t pid, uintptr_t address, void *buf, size_t size);
/* NULL, with OSError (PermissionError, ProcessLookupError...) for errno e. */
PyObject *mp_raise_errno(int e);

/* The target's memory a page at a time, through a direct-mapped cache
 * that grows while most lookups miss (remote.c says more). */
typedef struct {
    pid_t pid;
    size_t slots;               /* a power of two */
    uintptr_t *page;            /* per slot, the page it holds; 0: none */
    char *data;                 /* slots pages */
    size_t lookups, misses;     /* since the last look */
} mp_page_cache;

/* 0, or -1 with MemoryError. */
int mp_cache_open(mp_page_cache *c, pid_t pid);
void mp_cache_close(mp_page_cache *c);
/* size bytes at address through the cache. */
int mp_read_cached(mp_page_cache *c, uintptr_t address, void *into,
                   size_t size);

/* Why a walk stopped short (why NULL: it came back), and whether that is
 * the target changing what was read under the reading, so that a reading
 * a moment later may succeed. */
typedef struct {
    const char *why;
    int changed;
} mp_walk_problem;

/* Steps walked between two looks at this process's signals (with the GIL
 * taken back): a Ctrl-C ends a long walk within a few milliseconds. */
#define MP_STEPS_PER_SLICE ((Py_ssize_t)1 << 16)

/* The census as plain data: a tuple of (type address, tp_name as bytes or
 * None when it cannot be read, whether it is a heap type, a heap type's
 * __module__ as bytes or None when it cannot be read, objects over every
 * list), the names read through the cache before any object is built;
 * NULL with an error set.  t's types are the target's addresses, never
 * dereferenced here; runtime is where its _PyRuntime is (a str is read
 * only from an object whose type is the target's str). */
PyObject *mp_census_rows(mp_page_cache *c, uintptr_t runtime,
                         const mp_census *t);

#  if MP_FREE_THREADED && MP_HAVE_MIMALLOC
/* A free-threaded target's heaps, walked (remote_heaps.c).  copy is its
 * interpreter's state, read from address; the cache serves the page
 * headers.  Every page of every thread's heaps (and of the abandoned pool
 * where the build keeps one) is counted into rows.  With objects, the
 * tracked objects on the GC heaps are counted into *tracked, or *frozen
 * for those gc.freeze() froze, and by type into types when it is not
 * NULL; unless
 * *uncounted says why some cannot be found.  Why the walk did not
 * complete goes into *problem (then rows and *tracked mean nothing), and
 * a new tuple of the native ids of the threads whose states were attached
 * (running Python) into *attached (a 0 last when there were too many to
 * name).  0, or -1 with an error set (OSError when the target cannot be
 * read). */
int mp_remote_heaps(mp_page_cache *c, const PyInterpreterState *copy,
                    uintptr_t address, mp_mimalloc_reading *rows, int objects,
                    mp_census *types, Py_ssize_t *tracked, Py_ssize_t *frozen,
                    const char **uncounted, mp_walk_problem *problem,
                    PyObject **attached);
#  endif
#endif

#endif /* MEMPROBE_REMOTE_H */
