"""The workqueues (the native ones in stresscore/workqueue.pxi, served by
controller.pxi's kworkers): memcg_kmem_cache_wq and cgroup_destroy_wq, both
alloc_workqueue(name, 0, 1), i.e. per CPU with max_active 1: one FIFO pool
per (workqueue, cpu), no order between pools.  A work is queued on the pool
of the CPU it is queued from (the CPU of the work or callback running, else
the operation's cpu) and runs for that CPU."""
from __future__ import annotations

from typing import Callable

from .rcu import Work

WORKQUEUE_NAMES = ("memcg_kmem_cache", "cgroup_destroy", "events")
# the workqueue each work is queued on, as the kernel queues it
WORK_QUEUE = {
    "css_killed_work_fn": "cgroup_destroy",
    "css_release_work_fn": "cgroup_destroy",
    "css_free_rwork_fn": "cgroup_destroy",
    "memcg_kmem_cache_create_func": "memcg_kmem_cache",
    "kmemcg_deact_workfn": "memcg_kmem_cache",
    "kmemcg_shutdown_workfn": "memcg_kmem_cache",
    "slab_caches_to_rcu_destroy_workfn": "events",      # system_wq
    "sysfs_slab_remove_workfn": "events",               # system_wq, one work per cache ("...:<cache id>")
}


class Workqueue:
    """queue_work and the flushes of the Model (self.pools: {(workqueue,
    cpu): deque of Work}, every pool present)."""

    def queue_cpu(self) -> int:
        return self.exec_cpu if self.exec_cpu is not None else self.cpu

    def queue_work(self, name: str, fn: Callable[[], None]) -> None:
        self.pools[(WORK_QUEUE[name.split(":")[0]], self.queue_cpu())].append(Work(name, fn))

    def schedule_work(self, name: str, fn: Callable[[], None]) -> None:
        """On system_wq unless already pending (cleared when it starts)."""
        if name in self.work_pending:
            return
        self.work_pending.add(name)
        self.queue_work(name, fn)

    def wq_run_pool(self, wq: str, cpu: int) -> bool:
        pool = self.pools[(wq, cpu)]
        if not pool:
            return False
        saved, self.exec_cpu = self.exec_cpu, cpu
        work = pool.popleft()
        self.work_pending.discard(work.name)
        work.fn()
        self.exec_cpu = saved
        return True

    def wq_run_one(self) -> bool:
        """One work from the first pool that has one (workqueue, then cpu order)."""
        for wq in WORKQUEUE_NAMES:
            for cpu in range(self.nr_cpus):
                if self.wq_run_pool(wq, cpu):
                    return True
        return False

    def flush_workqueue(self, wq: str) -> None:
        """Run every work queued on wq before the call, on every CPU (not
        those they queue): a barrier on each pool, each pool run to it."""
        done = set()
        for cpu in range(self.nr_cpus):
            self.pools[(wq, cpu)].append(Work("barrier_work_fn", lambda c=cpu: done.add(c)))
        for cpu in range(self.nr_cpus):
            while cpu not in done:
                if not self.wq_run_pool(wq, cpu):
                    break
