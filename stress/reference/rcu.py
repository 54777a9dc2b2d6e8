"""RCU callbacks and grace periods (the native stresscore/urcu.c): one FIFO
of callbacks; a grace period runs the batch queued before it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(eq=False)
class Work:
    """A queued work item or RCU callback: what it models, and what it does."""
    name: str
    fn: Callable[[], None]


class Rcu:
    """call_rcu, grace periods and rcu_barrier of the Model
    (self.rcu_callbacks: a deque of Work)."""

    def call_rcu(self, name: str, fn: Callable[[], None]) -> None:
        self.rcu_callbacks.append(Work(name, fn))

    def rcu_process_callbacks(self) -> int:
        """End one grace period: run, in order, the callbacks queued before
        it.  Those they queue wait for the next grace period."""
        batch = list(self.rcu_callbacks)
        self.rcu_callbacks.clear()
        for cb in batch:
            cb.fn()
        return len(batch)

    def rcu_barrier(self) -> None:
        """Wait for every callback queued so far (single-threaded: one batch,
        ended by a no-op marker)."""
        self.call_rcu("rcu_barrier_func", lambda: None)
        self.rcu_process_callbacks()
