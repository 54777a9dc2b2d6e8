"""Benchmark: the native single-threaded Model against the plain-Python
reference model (stress/reference.py), on one seeded operation sequence.

``bench_reference(quick)`` returns::

    {"reference_ops_per_s": ..., "model_ops_per_s_1t": ..., "model_vs_reference": ...}

The sequence is mostly worker operations (alloc, free, send, receive), with
occasional mkdir, migrate, rmdir and settle, generated up front from a seed
so that both models run exactly the same operations (and the generation is
not timed).  200k operations (20k when quick); the native model is timed
three times and the median kept, the reference once.

``new_native_model()`` is also used by the tests: it creates a native Model
after settling the previous one and works around a native bug (see there).
"""
from __future__ import annotations

import random
import shutil
import subprocess
import time

# ---------------------------------------------------------------------------
# Native Model factory


_QUARANTINE_COUNTERS = ("nr_memcg_quarantine", "nr_cache_quarantine", "nr_array_quarantine")
_symbols: dict | None = None
_last_model = None


def _native_symbols() -> dict:
    """Offsets of PyInit__core and the quarantine counters in the extension
    (empty when nm is missing or the module is stripped)."""
    global _symbols
    if _symbols is None:
        from stresscore import _core
        _symbols = {}
        nm = shutil.which("nm")
        if nm:
            try:
                out = subprocess.run([nm, _core.__file__], capture_output=True, text=True,
                                     timeout=30).stdout
            except (OSError, subprocess.SubprocessError):
                out = ""
            want = {"PyInit__core"} | {f"__pyx_v_10stresscore_5_core_{n}" for n in _QUARANTINE_COUNTERS}
            for line in out.splitlines():
                parts = line.split()
                if len(parts) == 3 and parts[2] in want:
                    _symbols[parts[2]] = int(parts[0], 16)
    return _symbols


def reset_quarantine_counters() -> bool:
    """Work around a native bug: model_init() (stresscore/model.pxi) assigns
    nr_memcg_quarantine, nr_cache_quarantine and nr_array_quarantine without
    declaring them ``global``, so it resets locals; the quarantine lists are
    re-initialised empty but their counters keep growing from Model to Model,
    and once one exceeds QUARANTINE (64) the next allocation of that kind
    takes the list head itself as a quarantined structure and crashes
    (SIGSEGV in kmem_cache_alloc_struct at the next Model()).  Zeroing the
    counters right before a Model() is exactly what model_init() means to do.
    Returns False when the counters could not be found (nothing done)."""
    import ctypes

    from stresscore import _core
    syms = _native_symbols()
    names = [f"__pyx_v_10stresscore_5_core_{n}" for n in _QUARANTINE_COUNTERS]
    if "PyInit__core" not in syms or not all(n in syms for n in names):
        return False
    lib = ctypes.CDLL(_core.__file__)       # the already loaded module: same base
    base = ctypes.cast(lib.PyInit__core, ctypes.c_void_p).value - syms["PyInit__core"]
    for n in names:
        ctypes.c_long.from_address(base + syms[n]).value = 0
    return True


def new_native_model(**kw):
    """A fresh stresscore._core.Model(**kw).  The previous one made here is
    settled first: the RCU callback queue is process-global and survives a
    new Model (a native bug: its callbacks would then run against the new
    model's state)."""
    global _last_model
    from stresscore._core import Model
    if _last_model is not None:
        try:
            _last_model.settle(1000)
            _last_model.close()
        except Exception:
            pass
        _last_model = None
    reset_quarantine_counters()
    m = Model(**kw)
    _last_model = m
    return m


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
                next_id += 1
            elif y < 0.65 and online:
                w2 = rng.randrange(workers)
                m = rng.choice([0] + online)
                ops.append(("migrate", (w2, m)))
                where[w2] = m
            elif y < 0.85 and online:
                m = rng.choice(online)
                # leaves only, with no worker: the models check it too, this
                # just keeps most rmdirs effective
                if m not in where:
                    ops.append(("rmdir", (m,)))
                    online.remove(m)
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
    n = 20_000 if quick else 200_000
    ops = make_ops(n)
    ref_s = _run(Reference(workers=2), ops)
    native = []
    for _ in range(3):
        m = new_native_model(workers=2)
        native.append(_run(m, ops))
    m.drain()
    native.sort()
    nat_s = native[1]
    return {
        "reference_ops_per_s": n / ref_s,
        "model_ops_per_s_1t": n / nat_s,
        "model_vs_reference": ref_s / nat_s,
    }


if __name__ == "__main__":     # python -m stress.bench_model [--quick]
    import json
    import sys
    print(json.dumps(bench_reference("--quick" in sys.argv), indent=2))
