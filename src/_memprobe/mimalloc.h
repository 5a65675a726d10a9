/* mimalloc.h: reading mimalloc's pages without changing them (3.13+).
 *
 * Helpers for mimalloc.c and layout.c over the vendored mimalloc's
 * mi_page_t / mi_segment_t / mi_slice_t, through compat.h (which hides the
 * two mimalloc generations CPython vendors).  Only inline helpers of the
 * installed internal/mimalloc headers are used: CPython exports none of
 * mimalloc's functions.
 */
#ifndef MEMPROBE_MIMALLOC_H
#define MEMPROBE_MIMALLOC_H

#include "parts.h"

#if MP_HAVE_MIMALLOC

/* The memory range a page's blocks lie in: its slices of the segment (the
 * page's header, a copy, sits at `at`: see mp_mi_slices_start). */
static inline void
mp_mi_page_bounds(const mi_page_t *page, uintptr_t at, uintptr_t *lo,
                  uintptr_t *hi)
{
    *lo = mp_mi_slices_start(at);
    *hi = *lo + (size_t)page->slice_count * MI_SEGMENT_SLICE_SIZE;
}

static inline const uintptr_t *
mp_mi_page_keys(const mi_page_t *page)
{
#if defined(MI_ENCODE_FREELIST) || MI_PADDING
    return page->keys;
#else
    (void)page;
    return NULL;
#endif
}

/* More pages than this in one walk means a list loops (compat.h). */
#define MP_MI_PAGE_CAP MP_STEP_CAP

/* A page's blocks hold at most this many (its capacity is a uint16_t). */
#define MP_MAX_BLOCKS_PER_PAGE 65536

/* Copies the link word of the free block at address `block` into *into:
 * 0, or an errno (a reader of another process's memory). */
typedef int (*mp_mi_link_reader)(void *ctx, uintptr_t block, mi_block_t *into);

/* Marks in is_free the blocks on one of a page's free lists, from head:
 * how many, or -1 when the list leaves the page's carved blocks
 * [first, first + capacity * size), loops, or a link could not be read
 * (*e: the reader's errno; else 0).  page is the page's header, or a copy
 * of it whose original sits at `at` (its keys decode the links, which
 * mimalloc encodes against that address). */
static inline Py_ssize_t
mp_mi_mark_free(const mi_page_t *page, uintptr_t at, uintptr_t head,
                uintptr_t first, size_t size, size_t capacity,
                unsigned char *is_free, mp_mi_link_reader read, void *ctx,
                int *e)
{
    Py_ssize_t n = 0;
    *e = 0;
    for (uintptr_t b = head; b != 0;) {
        size_t index = (b - first) / size;
        if (b < first || index >= capacity || (b - first) % size != 0
            || is_free[index] || (size_t)++n > capacity) {
            return -1;
        }
        is_free[index] = 1;
        mi_block_t link;
        if ((*e = read(ctx, b, &link)) != 0) {
            return -1;
        }
        b = (uintptr_t)mi_block_nextx((const void *)at, &link,
                                      mp_mi_page_keys(page));
    }
    return n;
}

/* Blocks other threads freed into the page that its owner has not taken
 * back yet: mimalloc still counts them in page->used.  Read without
 * collecting them (which would change the page); -1 when the list leaves
 * the page or is longer than page->used. */
static inline Py_ssize_t
mp_mi_pending_frees(const mi_page_t *page)
{
    uintptr_t lo, hi;
    mp_mi_page_bounds(page, (uintptr_t)page, &lo, &hi);
    uintptr_t tf = mi_atomic_load_relaxed(&((mi_page_t *)page)->xthread_free);
    const mi_block_t *block = (const mi_block_t *)(tf & ~(uintptr_t)3);
    Py_ssize_t n = 0;
    while (block != NULL) {
        if ((uintptr_t)block < lo || (uintptr_t)block >= hi
            || ++n > (Py_ssize_t)page->used) {
            return -1;
        }
        block = mi_block_nextx(page, block, mp_mi_page_keys(page));
    }
    return n;
}

/* The page holding a block mimalloc handed out: the slice the block's
 * address falls in, moved back to the slice that starts its page.  Written
 * out because mimalloc's own _mi_ptr_page asserts through a function debug
 * builds do not export. */
static inline mi_page_t *
mp_mi_page_of(void *block)
{
    uintptr_t p = (uintptr_t)block;
    mi_segment_t *segment = (mi_segment_t *)((p - 1) & ~MI_SEGMENT_MASK);
    size_t index = (p - (uintptr_t)segment) >> MI_SEGMENT_SLICE_SHIFT;
    mi_slice_t *slice = &segment->slices[index];
    return (mi_page_t *)((uint8_t *)slice - slice->slice_offset);
}

/* Whether a page's heap belongs to the calling thread: on free-threaded
 * builds PyMem_Malloc serves from the thread's "mem" heap; on default
 * builds the thread's default heap is reachable only through its tld. */
static inline int
mp_mi_is_own_heap(const mi_heap_t *heap)
{
#if MP_FREE_THREADED
    _PyThreadStateImpl *ts = (_PyThreadStateImpl *)PyThreadState_Get();
    return heap == &ts->mimalloc.heaps[_Py_MIMALLOC_HEAP_MEM];
#else
    return heap != NULL && heap->tld != NULL;
#endif
}

#endif /* MP_HAVE_MIMALLOC */

#endif /* MEMPROBE_MIMALLOC_H */
