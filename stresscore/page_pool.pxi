# page_pool.pxi: memory for slab pages (docs/DESIGN.md, slub).
#
# Freed pages are kept for reuse, never handed back to the C library while
# the model lives: a per-thread pool (no lock) backed by a global one under
# page_pool_lock (the per-cpu page lists and zone->lock of the page
# allocator).  The footprint is then the high-water mark of slab pages, not
# whatever the C library's heaps retain of a churn of 3 KiB blocks.

# A page is allocated with room for the objects of its size class (8, 16,
# 32 or 64: PAGE_CLASSES), not PAGE_OBJS of them, so a cache of 21 objects
# does not carry 43 unused object headers per page; each class has its
# own pools.

cdef enum:
    PAGE_POOL_LOCAL = 512       # pages one thread keeps (per class)
    PAGE_POOL_BATCH = 64        # pages moved between a thread and the global pool at once
    PAGE_CLASSES = 4            # page sizes: room for 8 << class objects

cdef ms_spinlock page_pool_lock
cdef ms_page *page_pool_global[PAGE_CLASSES]    # page_pool_lock
cdef long nr_pages_reserved = 0         # atomic: pages taken from the C library and not given back

cdef inline int page_class(int objects) noexcept nogil:
    cdef int c = 0
    while (8 << c) < objects and c < PAGE_CLASSES - 1:
        c += 1
    return c

cdef ms_page *page_pool_get(int cls) noexcept nogil:
    """A page with room for 8 << cls objects: this thread's pool, else a
    batch from the global pool, else the C library."""
    cdef ms_thread *t = this_thread()
    cdef ms_page *p = <ms_page *>t.page_pool[cls]
    cdef int i
    if p == NULL and READ_ONCE_P(<void **>&page_pool_global[cls]) != NULL:
        spin_lock(&page_pool_lock)
        for i in range(PAGE_POOL_BATCH):
            p = page_pool_global[cls]
            if p == NULL:
                break
            page_pool_global[cls] = p.pool_next
            p.pool_next = <ms_page *>t.page_pool[cls]
            t.page_pool[cls] = p
            t.nr_pool[cls] += 1
        spin_unlock(&page_pool_lock)
        p = <ms_page *>t.page_pool[cls]
    if p != NULL:
        t.page_pool[cls] = p.pool_next
        t.nr_pool[cls] -= 1
        return p
    # the struct up to objs[], then 8 << cls objects (objs is its last member)
    p = <ms_page *>aligned_alloc(64, (sizeof(ms_page) - (PAGE_OBJS - (8 << cls)) * sizeof(ms_object) + 63) // 64 * 64)
    if p != NULL:
        p.pool_class = cls
        atomic_add_L(&nr_pages_reserved, 1)
    return p

cdef inline void page_pool_global_push(ms_page *p) noexcept nogil:
    """Called with page_pool_lock held."""
    p.pool_next = page_pool_global[p.pool_class]
    page_pool_global[p.pool_class] = p

cdef void page_pool_put(ms_page *p) noexcept nogil:
    cdef ms_thread *t
    cdef ms_page *q
    cdef int i, cls = p.pool_class
    p.magic = POISON_MAGIC
    if ms_cpu < 0:
        spin_lock(&page_pool_lock)
        page_pool_global_push(p)
        spin_unlock(&page_pool_lock)
        return
    t = this_thread()
    p.pool_next = <ms_page *>t.page_pool[cls]
    t.page_pool[cls] = p
    t.nr_pool[cls] += 1
    if t.nr_pool[cls] > PAGE_POOL_LOCAL:
        spin_lock(&page_pool_lock)
        for i in range(PAGE_POOL_BATCH):
            q = <ms_page *>t.page_pool[cls]
            t.page_pool[cls] = q.pool_next
            t.nr_pool[cls] -= 1
            page_pool_global_push(q)
        spin_unlock(&page_pool_lock)

cdef void page_pool_free_list(ms_page *p) noexcept nogil:
    cdef ms_page *nx
    while p != NULL:
        nx = p.pool_next
        free(p)
        p = nx

cdef void page_pools_release() noexcept nogil:
    """Hand every pooled page back to the C library (between runs; no
    thread of the model may be running)."""
    global nr_pages_reserved
    cdef int i, c
    for c in range(PAGE_CLASSES):
        for i in range(MS_MAX_CPUS):
            page_pool_free_list(<ms_page *>ms_threads[i].page_pool[c])
            ms_threads[i].page_pool[c] = NULL
            ms_threads[i].nr_pool[c] = 0
        page_pool_free_list(page_pool_global[c])
        page_pool_global[c] = NULL
    nr_pages_reserved = 0
