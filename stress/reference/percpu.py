"""percpu_ref and percpu_counter, by their logical values (the native
stresscore/percpu_ref.h/percpu_ref.c and percpu.h/percpu.c)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

BATCH = 32                      # MEMCG_CHARGE_BATCH and the node percpu_counter batch


@dataclass(eq=False)
class PercpuRef:
    """percpu_ref, by its logical count (stresscore/percpu_ref.h).

    Before the kill the count lives in per-cpu slots and cannot reach zero
    (the base reference is held).  percpu_ref_kill_and_confirm() marks it
    dead, takes a reference for the switch to atomic mode and queues the
    switch as an RCU callback; the switch confirms the kill and drops its
    reference.  From the switch on, the put that brings the count to zero
    calls release()."""
    release: Callable[["PercpuRef"], None]
    owner: object = None
    count: int = 1                  # logical: base reference held at init
    dead: bool = False              # __PERCPU_REF_DEAD (killed)
    switched: bool = False          # the switch callback folded the slots: atomic mode
    confirm: Optional[Callable[["PercpuRef"], None]] = None


@dataclass(eq=False)
class PercpuCounter:
    """percpu_counter with a batch: per-cpu slots spill into `count` when
    |slot| > batch.  Only the exact sum is observable."""
    nr_cpus: int
    batch: int = BATCH
    count: int = 0
    pcpu: list = field(default_factory=list)

    def __post_init__(self):
        self.pcpu = [0] * self.nr_cpus

    def add(self, cpu: int, v: int) -> None:
        x = self.pcpu[cpu] + v
        if x > self.batch or x < -self.batch:
            self.count += x
            x = 0
        self.pcpu[cpu] = x

    def sum(self) -> int:
        return self.count + sum(self.pcpu)



class PercpuRefOps:
    """The percpu_ref operations of the Model (its RCU callback queue does
    the switch to atomic mode)."""

    def percpu_ref_get_many(self, ref: PercpuRef, nr: int) -> None:
        ref.count += nr

    def percpu_ref_put_many(self, ref: PercpuRef, nr: int) -> None:
        ref.count -= nr
        if ref.switched and ref.count == 0:
            ref.release(ref)

    def percpu_ref_tryget(self, ref: PercpuRef) -> bool:
        # percpu mode always succeeds; dead and not yet switched, the atomic
        # count still carries the bias: inc_not_zero succeeds too
        if ref.dead and ref.switched and ref.count == 0:
            return False
        ref.count += 1
        return True

    def percpu_ref_tryget_live(self, ref: PercpuRef) -> bool:
        if ref.dead:
            return False
        ref.count += 1
        return True

    def percpu_ref_kill_and_confirm(self, ref: PercpuRef, confirm=None) -> None:
        if ref.dead:
            # already atomic (the kernel WARNs on a second kill)
            if confirm is not None:
                confirm(ref)
        else:
            ref.confirm = confirm
            ref.dead = True
            self.percpu_ref_get_many(ref, 1)            # the switch's reference
            self.call_rcu("percpu_ref_switch_to_atomic_rcu",
                          lambda: self.percpu_ref_switch_to_atomic_rcu(ref))
        self.percpu_ref_put_many(ref, 1)                # the base reference

    def percpu_ref_kill(self, ref: PercpuRef) -> None:
        self.percpu_ref_kill_and_confirm(ref, None)

    def percpu_ref_switch_to_atomic_rcu(self, ref: PercpuRef) -> None:
        """RCU callback of the kill: no cpu can still add to a slot."""
        ref.switched = True
        confirm, ref.confirm = ref.confirm, None
        if confirm is not None:
            confirm(ref)
        self.percpu_ref_put_many(ref, 1)                # the switch's reference
