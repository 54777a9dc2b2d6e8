"""RCU callbacks and grace periods (the native stresscore/urcu.c): one FIFO
list per CPU, no order between lists; a grace period runs the batches
queued before it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional


@dataclass(eq=False)
class Work:
    """A queued work item or RCU callback: what it models, and what it does."""
    name: str
    fn: Callable[[], None]


class Rcu:
    """call_rcu, grace periods and rcu_barrier of the Model
    (self.rcu_lists: one deque of Work per cpu)."""

    def call_rcu(self, name: str, fn: Callable[[], None]) -> None:
        self.rcu_lists[self.queue_cpu()].append(Work(name, fn))

    def rcu_process_callbacks(self, cpus: Optional[list] = None) -> int:
        """End one grace period: take the batches of the lists of `cpus`
        (every cpu, lowest first, when None), then run them list by list in
        that order, each for its CPU.  Those they queue wait for the next
        grace period."""
        if cpus is None:
            cpus = list(range(self.nr_cpus))
        batches = []
        for cpu in cpus:
            batches.append((cpu, list(self.rcu_lists[cpu])))
            self.rcu_lists[cpu].clear()
        saved = self.exec_cpu
        for cpu, batch in batches:
            self.exec_cpu = cpu
            for cb in batch:
                cb.fn()
        self.exec_cpu = saved
        return sum(len(b) for _, b in batches)

    def rcu_barrier(self) -> None:
        """Wait for every callback queued so far on every list
        (single-threaded: one marker per list, then one pass over all)."""
        for cpu in range(self.nr_cpus):
            self.rcu_lists[cpu].append(Work("rcu_barrier_func", lambda: None))
        self.rcu_process_callbacks()
