"""Benchmark: the native single-threaded Model against the plain-Python
reference model (stress/reference/), on one seeded operation sequence.

``bench_reference(quick)`` returns::

    {"reference_ops_per_s": ..., "model_ops_per_s_1t": ..., "model_vs_reference": ...}

The sequence is mostly worker operations (alloc, free, send, receive), with
occasional mkdir, migrate, rmdir and settle, generated up front from a seed
so that both models run exactly the same operations (and the generation is
not timed).  200k operations (20k when quick); the native model is timed
three times and the median kept, the reference once.
"""
from __future__ import annotations

import random
import time

# ---------------------------------------------------------------------------
# The operation sequence


def make_ops(n: int, workers: int = 2, seed: int = 12345) -> list[tuple]:
    """A seeded list of (method, args) the Model API accepts, with the
    bookkeeping (held counts, memcgs) done here so every op is valid.  It
    mirrors the models' own held-list behaviour (swap-remove) only in size,
    which is all the indices need."""
    rng = random.Random(seed)
    held = [0] * workers
    mailbox = [0] * workers
    online: list[int] = []          # non-root memcgs created and not removed
    parent_of: dict[int, int] = {}  # of each one in `online`
    where = [0] * workers           # each worker's memcg
    next_id = 1
    ops: list[tuple] = []
    roots = [0, 1, 2, 3]
    while len(ops) < n:
        w = rng.randrange(workers)
        x = rng.random()
        if x < 0.45 or held[w] == 0:
            ops.append(("alloc", (w, rng.choice(roots))))
            held[w] += 1            # a refused charge is possible only under limits: none here
        elif x < 0.70:
            ops.append(("free", (w, rng.randrange(held[w]))))
            held[w] -= 1
        elif x < 0.85 and workers > 1:
            to = rng.randrange(workers - 1)
            to += to >= w
            ops.append(("send", (w, rng.randrange(held[w]), to)))
            held[w] -= 1
            mailbox[to] += 1
        elif x < 0.97:
            if mailbox[w]:
                ops.append(("receive", (w,)))
                mailbox[w] -= 1
        else:
            y = rng.random()
            if y < 0.35 and len(online) < 24:
                parent = rng.choice([0] + online)
                ops.append(("mkdir", (parent,)))
                online.append(next_id)
                parent_of[next_id] = parent
                next_id += 1
            elif y < 0.65 and online:
                w2 = rng.randrange(workers)
                m = rng.choice([0] + online)
                ops.append(("migrate", (w2, m)))
                where[w2] = m
            elif y < 0.85 and online:
                # leaves without workers only, so that every rmdir succeeds
                m = rng.choice(online)
                if m not in where and m not in parent_of.values():
                    ops.append(("rmdir", (m,)))
                    online.remove(m)
                    del parent_of[m]
            else:
                ops.append(("settle", ()))
    return ops


def _run(model, ops) -> float:
    t0 = time.perf_counter()
    for name, args in ops:
        getattr(model, name)(*args)
    return time.perf_counter() - t0


def bench_reference(quick: bool) -> dict:
    """Operations per second of the reference and of the native Model (one
    thread), and their ratio (native / reference)."""
    from stress.reference import Model as Reference
    from stresscore._core import Model as Native
    n = 20_000 if quick else 200_000
    ops = make_ops(n)
    ref = Reference(workers=2)
    ref_s = _run(ref, ops)
    native = []
    for _ in range(3):
        m = Native(workers=2)
        native.append(_run(m, ops))
    # the same operations must have led to the same state
    if m.snapshot() != ref.snapshot():
        raise AssertionError("bench_reference: native and reference states differ")
    m.drain()
    native.sort()
    nat_s = native[1]
    return {
        "reference_ops_per_s": n / ref_s,
        "model_ops_per_s_1t": n / nat_s,
        "model_vs_reference": ref_s / nat_s,
    }


if __name__ == "__main__":     # python -m stress.bench.model [--quick]
    import json
    import sys
    print(json.dumps(bench_reference("--quick" in sys.argv), indent=2))
