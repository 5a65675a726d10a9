/* native.c: the process's memory as the operating system and the C
 * allocator see it.
 *
 * Reads no CPython structure.  mincore(2) says which pages of a range are
 * resident (Linux, macOS and the BSDs; elsewhere nothing is known), and
 * glibc's mallinfo2() (2.33+), looked up at run time with dlsym so that
 * musl gives "unknown" rather than a failure to load, says what malloc
 * holds; when malloc is not glibc's own (a preloaded jemalloc or tcmalloc,
 * a sanitizer), mallinfo2 would describe a heap nobody uses, and the
 * answer is "unknown" too.  Differences
 * between operating systems live here, as compat.h holds those between
 * CPython versions.
 */
#include "parts.h"

#if defined(__linux__) || defined(__APPLE__) || defined(__FreeBSD__)
#  define MP_HAVE_MINCORE 1
#  include <sys/mman.h>
#  include <unistd.h>
#else
#  define MP_HAVE_MINCORE 0
#endif

#if defined(__GLIBC__)
#  define MP_HAVE_DLSYM 1
#  include <dlfcn.h>
#else
#  define MP_HAVE_DLSYM 0
#endif

/* Pages looked at per mincore call: a stack buffer of this many bytes. */
#define MP_MINCORE_CHUNK 1024

Py_ssize_t
mp_resident_pages(uintptr_t start, size_t length)
{
#if MP_HAVE_MINCORE
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || start % (uintptr_t)page != 0) {
        return -1;
    }
    size_t pages = (length + (size_t)page - 1) / (size_t)page;
    Py_ssize_t resident = 0;
    for (size_t done = 0; done < pages; done += MP_MINCORE_CHUNK) {
#  ifdef __APPLE__
        char vec[MP_MINCORE_CHUNK];
#  else
        unsigned char vec[MP_MINCORE_CHUNK];
#  endif
        size_t n = pages - done < MP_MINCORE_CHUNK ? pages - done : MP_MINCORE_CHUNK;
        if (mincore((void *)(start + done * (size_t)page), n * (size_t)page,
                    vec) != 0) {
            return -1;      /* not mapped (ENOMEM), or not allowed */
        }
        for (size_t i = 0; i < n; i++) {
            resident += vec[i] & 1;
        }
    }
    return resident;
#else
    (void)start;
    (void)length;
    return -1;
#endif
}

/* glibc's struct mallinfo2 (malloc.h, 2.33+), declared here because it is
 * looked up at run time. */
typedef struct {
    size_t arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks;
    size_t uordblks, fordblks, keepcost;
} mp_mallinfo2;

#if MP_HAVE_DLSYM
/* Whether the malloc everything calls is glibc's own: a preloaded
 * allocator (jemalloc, tcmalloc) or a sanitizer's interposes its own, and
 * glibc's mallinfo2 then describes a heap nobody uses. */
static int
malloc_is_glibcs(void)
{
    void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    if (libc == NULL) {
        return 0;
    }
    void *own = dlsym(libc, "malloc");
    void *used = dlsym(RTLD_DEFAULT, "malloc");
    dlclose(libc);
    return own != NULL && own == used;
}
#endif

/* _mallinfo() -> None, or (arena, in_use, free, mmapped, releasable): what
 * glibc's malloc holds from the system in its heaps, the bytes of that in
 * use and free, the bytes of blocks it mmapped on their own, and the free
 * bytes at the top of the main heap (what malloc_trim could release at
 * least). */
static PyObject *
mallinfo(PyObject *module, PyObject *unused)
{
    if (mp_module_state(module) == NULL) {
        return NULL;
    }
#if MP_HAVE_DLSYM
    mp_mallinfo2 (*get)(void) = NULL;
    *(void **)&get = dlsym(RTLD_DEFAULT, "mallinfo2");
    if (get != NULL && malloc_is_glibcs()) {
        mp_mallinfo2 m = get();
        return Py_BuildValue("(nnnnn)", (Py_ssize_t)m.arena,
                             (Py_ssize_t)m.uordblks, (Py_ssize_t)m.fordblks,
                             (Py_ssize_t)m.hblkhd, (Py_ssize_t)m.keepcost);
    }
#endif
    Py_RETURN_NONE;
}

static PyMethodDef native_methods[] = {
    {"_mallinfo", mallinfo, METH_NOARGS,
     "_mallinfo()\n--\n\nglibc's mallinfo2(), found at run time: (arena, "
     "in_use, free, mmapped, releasable), or None when malloc is not "
     "glibc's."},
    {NULL, NULL, 0, NULL}
};

int
mp_init_native(PyObject *module, mp_state *st)
{
    (void)st;
    return PyModule_AddFunctions(module, native_methods);
}
