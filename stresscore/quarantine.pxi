# quarantine.pxi: poisoning and quarantine of freed structures (the model's
# KASAN / slab poisoning; docs/DESIGN.md, quarantine).
#
# A freed mem_cgroup, kmem_cache or memcg_cache_array is poisoned
# (POISON_MAGIC) and kept mapped: it is reused only after QUARANTINE more
# have been freed.  A stale pointer to one is then reported (memcg_ok,
# cache_ok) instead of being used.  Lowest room of the model: it knows the
# structures (_core.pxd), not the code that frees them.

cdef ms_spinlock quarantine_lock
cdef ms_list memcg_quarantine       # quarantine_lock
cdef ms_list cache_quarantine       # quarantine_lock
cdef ms_list array_quarantine       # quarantine_lock
cdef long nr_memcg_quarantine, nr_cache_quarantine, nr_array_quarantine   # quarantine_lock

# ---------------------------------------------------------------------------
# Checked pointer reads: a stale pointer to freed (poisoned) memory is
# reported instead of being used.  Quarantine keeps the memory mapped.

cdef inline bint memcg_ok(mem_cgroup *m, long ctx) noexcept nogil:
    if m == NULL:
        return False
    if READ_ONCE_L(&m.magic) != MEMCG_MAGIC:
        violationf(V_USE_AFTER_FREE, ctx, 0,
                   "read of a freed (poisoned) mem_cgroup id %ld in path %ld",
                   READ_ONCE_L(&m.id), ctx)
        return False
    return True

cdef inline bint cache_ok(kmem_cache *c, long ctx) noexcept nogil:
    if READ_ONCE_L(&c.magic) != CACHE_MAGIC:
        violationf(V_USE_AFTER_FREE, ctx, 0,
                   "read of a freed (poisoned) kmem_cache id %ld in path %ld",
                   READ_ONCE_L(&c.id), ctx)
        return False
    return True

# ---------------------------------------------------------------------------
# Quarantine: freed memcgs, caches and arrays are poisoned and reused only
# after QUARANTINE more have been freed.

cdef ms_list *quarantine_take(ms_list *q, long *n) noexcept nogil:
    """Oldest quarantined node once the quarantine is full, else NULL."""
    cdef ms_list *node = NULL
    spin_lock(&quarantine_lock)
    if n[0] > QUARANTINE:
        node = q.next
        list_del_init(node)
        n[0] -= 1
    spin_unlock(&quarantine_lock)
    return node

cdef void memcg_free_parts(mem_cgroup *m) noexcept nogil:
    """What a freed memcg still owns besides its struct (kept for reuse)."""
    percpu_ref_exit(&m.css)
    pcpu_free(m.pcpu)

cdef void cache_free_parts(kmem_cache *s) noexcept nogil:
    """What a freed cache still owns besides its struct (kept for reuse)."""
    if not s.is_root:
        percpu_ref_exit(&s.refcnt)
    pcpu_free(s.cpu_slab)
    if s.create_pending != NULL:
        free(s.create_pending)

cdef void quarantine_put(ms_list *node, ms_list *q, long *n) noexcept nogil:
    cdef bint twice
    spin_lock(&quarantine_lock)
    twice = node.next != node
    if not twice:
        list_add_tail(node, q)
        n[0] += 1
    spin_unlock(&quarantine_lock)
    if twice:
        report_violation(V_DOUBLE_FREE, <long>node.owner, 0,
                         "a freed structure was released a second time")

# ---------------------------------------------------------------------------
# Final frees (between runs, single-threaded): what model_release hands
# back to the C library.

cdef void memcg_struct_free(mem_cgroup *m) noexcept nogil:
    memcg_free_parts(m)
    free(m)

cdef void cache_struct_free(kmem_cache *s) noexcept nogil:
    cache_free_parts(s)
    free(s)

cdef void array_struct_free(memcg_cache_array *arr) noexcept nogil:
    free(arr.entries)
    free(arr)

cdef void quarantine_free_all(ms_list *q, int kind) noexcept nogil:
    cdef ms_list *n
    while not list_empty(q):
        n = q.next
        list_del_init(n)
        if kind == 0:
            memcg_struct_free(<mem_cgroup *>n.owner)
        elif kind == 1:
            cache_struct_free(<kmem_cache *>n.owner)
        else:
            array_struct_free(<memcg_cache_array *>n.owner)
