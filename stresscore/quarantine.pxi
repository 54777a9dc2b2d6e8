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

# ---------------------------------------------------------------------------
# Write-after-free: the image of each structure at its free (poison
# included) is kept with it; reuse, and every full checkpoint for what is
# in quarantine, compares the memory with it.  The quarantine link and the
# image pointer itself are left out: they change while quarantined.

cdef enum:
    Q_MEMCG = 0
    Q_CACHE = 1
    Q_ARRAY = 2
    Q_MAX_FIELDS = 48

cdef struct q_field:
    long off
    const char *name

cdef q_field q_fields[3][Q_MAX_FIELDS]     # per kind, by offset (set at module init)
cdef int q_nfields[3]
cdef const char *Q_KIND_NAMES[3]
Q_KIND_NAMES[0] = "mem_cgroup"
Q_KIND_NAMES[1] = "kmem_cache"
Q_KIND_NAMES[2] = "memcg_cache_array"

cdef void _q_field(int kind, void *base, void *field, const char *name) noexcept nogil:
    cdef int i = q_nfields[kind]
    q_fields[kind][i].off = <long>(<char *>field - <char *>base)
    q_fields[kind][i].name = name
    q_nfields[kind] = i + 1

cdef void _q_fields_init() noexcept nogil:
    cdef mem_cgroup m
    cdef kmem_cache c
    cdef memcg_cache_array a
    q_nfields[0] = 0
    q_nfields[1] = 0
    q_nfields[2] = 0
    _q_field(0, &m, &m.magic, "magic"); _q_field(0, &m, &m.id, "id"); _q_field(0, &m, &m.parent, "parent")
    _q_field(0, &m, &m.state, "state"); _q_field(0, &m, &m.kmem_state, "kmem_state")
    _q_field(0, &m, &m.kmemcg_id, "kmemcg_id"); _q_field(0, &m, &m.depth, "depth")
    _q_field(0, &m, &m.online_cnt, "online_cnt"); _q_field(0, &m, &m.nr_dying_descendants, "nr_dying_descendants")
    _q_field(0, &m, &m.offline_pending, "offline_pending"); _q_field(0, &m, &m.sibling, "sibling")
    _q_field(0, &m, &m.children, "children"); _q_field(0, &m, &m.all_node, "all_node")
    _q_field(0, &m, &m.kmem_caches, "kmem_caches"); _q_field(0, &m, &m.quarantine_node, "quarantine_node")
    _q_field(0, &m, &m.limit, "limit"); _q_field(0, &m, &m.css, "css")
    _q_field(0, &m, &m.offline_work, "offline_work"); _q_field(0, &m, &m.release_work, "release_work")
    _q_field(0, &m, &m.free_work, "free_work"); _q_field(0, &m, &m.rcu, "rcu"); _q_field(0, &m, &m.pcpu, "pcpu")
    _q_field(0, &m, &m.ck_charge, "ck_charge"); _q_field(0, &m, &m.ck_stat, "ck_stat")
    _q_field(0, &m, &m.ck_resid, "ck_resid"); _q_field(0, &m, &m.ck_nsub, "ck_nsub")
    _q_field(0, &m, &m.ck_holders, "ck_holders"); _q_field(0, &m, &m.ck_local, "ck_local")
    _q_field(0, &m, &m.local_lost, "local_lost"); _q_field(0, &m, &m.offline_ns, "offline_ns")
    _q_field(0, &m, &m.lost_memory, "lost_memory"); _q_field(0, &m, &m.lost_stat, "lost_stat")
    _q_field(0, &m, &m.failcnt, "failcnt")
    _q_field(0, &m, &m.q_shadow, "q_shadow"); _q_field(0, &m, &m._pad0, "_pad0")
    _q_field(0, &m, &m.memory, "memory"); _q_field(0, &m, &m._pad1, "_pad1")
    _q_field(0, &m, &m.stat, "stat"); _q_field(0, &m, &m._pad2, "_pad2")
    _q_field(1, &c, &c.magic, "magic"); _q_field(1, &c, &c.id, "id"); _q_field(1, &c, &c.is_root, "is_root")
    _q_field(1, &c, &c.root_index, "root_index"); _q_field(1, &c, &c.size, "size")
    _q_field(1, &c, &c.objects, "objects"); _q_field(1, &c, &c.order, "order")
    _q_field(1, &c, &c.reclaimable, "reclaimable"); _q_field(1, &c, &c.typesafe, "typesafe")
    _q_field(1, &c, &c.mergeable, "mergeable"); _q_field(1, &c, &c.refcount, "refcount")
    _q_field(1, &c, &c.dying, "dying"); _q_field(1, &c, &c.flushed, "flushed")
    _q_field(1, &c, &c.unloading, "unloading"); _q_field(1, &c, &c.memcg_caches, "memcg_caches")
    _q_field(1, &c, &c.children, "children"); _q_field(1, &c, &c.root_caches_node, "root_caches_node")
    _q_field(1, &c, &c.create_pending, "create_pending"); _q_field(1, &c, &c.root, "root")
    _q_field(1, &c, &c.memcg, "memcg"); _q_field(1, &c, &c.refcnt, "refcnt")
    _q_field(1, &c, &c.deactivated, "deactivated"); _q_field(1, &c, &c.shut_down, "shut_down")
    _q_field(1, &c, &c.children_node, "children_node"); _q_field(1, &c, &c.kmem_caches_node, "kmem_caches_node")
    _q_field(1, &c, &c.release_node, "release_node"); _q_field(1, &c, &c.deact_rcu, "deact_rcu")
    _q_field(1, &c, &c.release_rcu, "release_rcu"); _q_field(1, &c, &c.deact_work, "deact_work")
    _q_field(1, &c, &c.shutdown_work, "shutdown_work"); _q_field(1, &c, &c.quarantine_node, "quarantine_node")
    _q_field(1, &c, &c.q_shadow, "q_shadow"); _q_field(1, &c, &c.list_lock, "list_lock")
    _q_field(1, &c, &c.pages, "pages"); _q_field(1, &c, &c.nr_pages, "nr_pages")
    _q_field(1, &c, &c.cpu_slab, "cpu_slab"); _q_field(1, &c, &c.ck_on_list, "ck_on_list")
    _q_field(2, &a, &a.magic, "magic"); _q_field(2, &a, &a.size, "size"); _q_field(2, &a, &a.rcu, "rcu")
    _q_field(2, &a, &a.quarantine_node, "quarantine_node"); _q_field(2, &a, &a.entries, "entries")
    _q_field(2, &a, &a.q_shadow, "q_shadow")

_q_fields_init()

cdef inline char **q_shadow_of(ms_list *node, int kind) noexcept nogil:
    if kind == Q_MEMCG:
        return &(<mem_cgroup *>node.owner).q_shadow
    if kind == Q_CACHE:
        return &(<kmem_cache *>node.owner).q_shadow
    return &(<memcg_cache_array *>node.owner).q_shadow

cdef inline long q_struct_size(int kind) noexcept nogil:
    if kind == Q_MEMCG:
        return sizeof(mem_cgroup)
    if kind == Q_CACHE:
        return sizeof(kmem_cache)
    return sizeof(memcg_cache_array)

cdef void quarantine_snapshot(ms_list *node, int kind) noexcept nogil:
    """Keep the image of a structure as it is freed (poison written)."""
    cdef char **sh = q_shadow_of(node, kind)
    cdef long sz = q_struct_size(kind)
    cdef memcg_cache_array *arr
    cdef long extra = 0
    if not MS_INLINE_CHECKS_ON:
        return
    if kind == Q_ARRAY:
        arr = <memcg_cache_array *>node.owner
        extra = arr.size * sizeof(kmem_cache *)
    if sh[0] != NULL:
        free(sh[0])
    sh[0] = NULL
    sh[0] = <char *>malloc(sz + extra)
    if sh[0] == NULL:
        return
    memcpy(sh[0], node.owner, sz)
    if extra:
        memcpy(sh[0] + sz, arr.entries, extra)

cdef const char *q_field_name(int kind, long off) noexcept nogil:
    cdef int i
    cdef const char *name = "?"
    for i in range(q_nfields[kind]):
        if q_fields[kind][i].off <= off:
            name = q_fields[kind][i].name
    return name

cdef bint q_skip(ms_list *node, int kind, long off) noexcept nogil:
    """The quarantine link and the image pointer change while quarantined."""
    cdef long qn = <long>(<char *>node - <char *>node.owner)
    cdef long sp = <long>(<char *>q_shadow_of(node, kind) - <char *>node.owner)
    return (qn <= off < qn + <long>sizeof(ms_list)) or (sp <= off < sp + <long>sizeof(char *))

cdef int quarantine_verify(ms_list *node, int kind) noexcept nogil:
    """Compare a quarantined structure with its image at free; report the
    first changed byte's field (write-after-free).  1 if it was intact."""
    cdef char *sh = q_shadow_of(node, kind)[0]
    cdef char *mem = <char *>node.owner
    cdef long sz = q_struct_size(kind), i, extra = 0
    cdef memcg_cache_array *arr
    cdef char buf[VMSG]
    if sh == NULL:
        return 1
    if kind == Q_ARRAY:
        arr = <memcg_cache_array *>node.owner
        extra = arr.size * sizeof(kmem_cache *)
    if memcmp(sh, mem, sz) != 0:
        for i in range(sz):
            if sh[i] != mem[i] and not q_skip(node, kind, i):
                snprintf(buf, VMSG, "write into a freed %s (id %ld) at offset %ld, field %s: byte %02x, %02x at its free",
                         Q_KIND_NAMES[kind], (<long *>(sh + 8))[0] if kind != Q_ARRAY else -1, i,
                         q_field_name(kind, i), <unsigned char>mem[i], <unsigned char>sh[i])
                report_violation(V_WRITE_AFTER_FREE, <long>node.owner, i, buf)
                return 0
    if extra and memcmp(sh + sz, arr.entries, extra) != 0:
        for i in range(extra // <long>sizeof(kmem_cache *)):
            if (<kmem_cache **>(sh + sz))[i] != arr.entries[i]:
                snprintf(buf, VMSG, "write into a freed memcg_cache_array (size %d): entries[%ld] is %lx",
                         arr.size, i, <long>arr.entries[i])
                report_violation(V_WRITE_AFTER_FREE, <long>node.owner, i, buf)
                return 0
    return 1

cdef long quarantine_verify_all() noexcept nogil:
    """Every structure in quarantine against its image (full checkpoints)."""
    cdef ms_list *n
    cdef ms_list *q[3]
    cdef int k
    cdef long bad = 0
    q[0] = &memcg_quarantine
    q[1] = &cache_quarantine
    q[2] = &array_quarantine
    spin_lock(&quarantine_lock)
    for k in range(3):
        n = q[k].next
        while n != q[k]:
            if not quarantine_verify(n, k):
                bad += 1
            n = n.next
    spin_unlock(&quarantine_lock)
    return bad

cdef void quarantine_shadow_free(ms_list *node, int kind) noexcept nogil:
    cdef char **sh = q_shadow_of(node, kind)
    if sh[0] != NULL:
        free(sh[0])
        sh[0] = NULL

cdef ms_list *quarantine_take(ms_list *q, long *n) noexcept nogil:
    """Oldest quarantined node once the quarantine is full, else NULL; its
    memory is verified against its image at free first."""
    cdef ms_list *node = NULL
    cdef int kind = Q_MEMCG if q == &memcg_quarantine else (Q_CACHE if q == &cache_quarantine else Q_ARRAY)
    spin_lock(&quarantine_lock)
    if n[0] > QUARANTINE:
        node = q.next
        list_del_init(node)
        n[0] -= 1
    spin_unlock(&quarantine_lock)
    if node != NULL:
        quarantine_verify(node, kind)
        quarantine_shadow_free(node, kind)
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
    cdef int kind = Q_MEMCG if q == &memcg_quarantine else (Q_CACHE if q == &cache_quarantine else Q_ARRAY)
    spin_lock(&quarantine_lock)
    twice = node.next != node
    if not twice:
        quarantine_snapshot(node, kind)
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
    quarantine_shadow_free(&m.quarantine_node, Q_MEMCG)
    free(m)

cdef void cache_struct_free(kmem_cache *s) noexcept nogil:
    cache_free_parts(s)
    quarantine_shadow_free(&s.quarantine_node, Q_CACHE)
    free(s)

cdef void array_struct_free(memcg_cache_array *arr) noexcept nogil:
    quarantine_shadow_free(&arr.quarantine_node, Q_ARRAY)
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
