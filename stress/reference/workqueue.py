"""The ordered workqueue (memcg_kmem_cache_wq; the native one runs in
stresscore/workqueue.pxi, run by controller.pxi's workqueue thread): a FIFO of Work items."""
from __future__ import annotations

from typing import Callable

from .rcu import Work


class Workqueue:
    """queue_work and the flushes of the Model (self.workqueue: a deque of Work)."""

    def queue_work(self, name: str, fn: Callable[[], None]) -> None:
        self.workqueue.append(Work(name, fn))

    def wq_run_one(self) -> bool:
        if not self.workqueue:
            return False
        self.workqueue.popleft().fn()
        return True

    def flush_workqueue(self) -> None:
        """Run every work item queued before the call (not those it queues)."""
        done = []
        self.queue_work("barrier_work_fn", lambda: done.append(True))
        while not done:
            if not self.wq_run_one():
                break
