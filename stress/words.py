"""Violations and flight-recorder events in words.

The native core records each flight-recorder event as (ts, kind, a, b)
numbers and each violation with its invariant, the thread that found it
and a message (whose memcgs and caches the native checkers already name
with their states, as the kernel's enums spell them).  This module turns
the numbers into text: which memcg, cache or delay point an event is
about, and the last events of each thread before a violation.  The soak's
display, the pytest plugin and `memcg-stress list` use it, and every
command's tables take their one style from `new_table`.
"""
from __future__ import annotations

from stresscore import _core

from .config import one_line

DELAY_POINTS = tuple(_core.DELAY_POINTS)
#: delay point -> the kernel path and the window it sits in
DELAY_POINT_WHERE: dict[str, str] = dict(_core.DELAY_POINT_WHERE)

#: flight-recorder event kind -> its text, with {a} and {b} (and {point},
#: {us} and {invariant} for the events whose numbers are codes)
EVENT_TEXT: dict[str, str] = {
    "none": "(empty slot)",
    "alloc_slow": "new slab page for cache {a} ({b} pages)",
    "page_free": "slab page of cache {a} freed, memcg {b} uncharged",
    "charge": "cache {a} charged memcg {b}",
    "charge_fail": "charge of memcg {b} refused by its limit (cache {a})",
    "get_cache_miss": "memcg_kmem_get_cache: no child of root cache {a} for memcg {b}",
    "tryget_fail": "tryget on cache {a} failed",
    "remote_free": "free to cache {a} on a page that is not this cpu's slab",
    "mail_send": "object handed to the worker on cpu {a}",
    "mail_recv": "{a} objects received",
    "migrate": "worker on cpu {a} migrated to memcg {b}",
    "mkdir": "mkdir: memcg {a} (parent {b})",
    "rmdir": "rmdir: memcg {a}",
    "offline_kmem": "memcg_offline_kmem: memcg {a} (parent {b})",
    "reparent": "cache {a} reparented to memcg {b}",
    "cache_create": "cache {a} created for memcg {b}",
    "cache_deactivate": "cache {a} deactivated",
    "cache_kill": "percpu_ref_kill on cache {a}",
    "cache_shutdown": "shutdown_cache: cache {a}",
    "cache_release": "slab_kmem_cache_release: cache {a}",
    "memcg_release": "css released: memcg {a}",
    "memcg_free": "memcg {a} freed after a grace period",
    "root_create": "kmem_cache_create: root cache {a} (refcount {b})",
    "root_destroy": "kmem_cache_destroy: root cache {a} (refcount {b})",
    "array_grow": "memcg_caches arrays grown to {a} entries",
    "checkpoint": "checkpoint {a}",
    "delay": "delay at {point}: {us} us",
    "limit": "limit of memcg {a} set to {b} pages",
    "violation": "violation of {invariant}",
    "kick": "cpu slabs flushed ({a} pages unfrozen)",
    "sysfs_remove": "sysfs_slab_remove_workfn: cache {a} removed from sysfs ({b} kobject references left)",
    "sysfs_unlink": "kobject_del: cache {a} unlinked from /sys/kernel/slab",
    "sysfs_show": "sysfs reader: cache {a} shows {b}",
    "sysfs_shrink": "sysfs writer: shrink of cache {a} (slabs left: {b})",
    "cpu_down": "_cpu_down: cpu {a} offline, its dead callbacks run (worker {b} moved off, -1: none)",
    "cpu_up": "_cpu_up: cpu {a} online",
}

#: events shown per thread under a violation on the terminal
SHOWN_EVENTS = 4


def _name(table, i) -> str:
    return table[i] if isinstance(i, int) and 0 <= i < len(table) else str(i)


def event_text(kind: str, a: int, b: int) -> str:
    """One flight-recorder event in words."""
    fmt = EVENT_TEXT.get(kind)
    if fmt is None:
        return f"{kind} a={a} b={b}"
    if kind == "limit" and isinstance(b, int) and b >= 2**62:
        return f"limit of memcg {a} removed (max)"
    return fmt.format(a=a, b=b, point=_name(DELAY_POINTS, a), us=f"{b / 1000:,.1f}" if isinstance(b, int) else b,
                      invariant=_name(_core.INVARIANTS, a))


def flight_recorder_text(violation: dict, roles: list[str] | None = None, per_thread: int = SHOWN_EVENTS,
                         indent: str = "  ") -> list[str]:
    """The last `per_thread` events of each thread before `violation`, as
    lines (times relative to the violation); [] without a recorder."""
    recorder = violation.get("flight_recorder")
    if not recorder:
        return []
    roles = roles or []
    t_ref = violation.get("ts_ns")
    if t_ref is None:
        t_ref = max((ev[0] for events in recorder for ev in events), default=0)
    lines = [f"flight recorder (last {per_thread} events per thread; time relative to the violation):"]
    for cpu, events in enumerate(recorder):
        tail = list(events)[-per_thread:]
        role = roles[cpu] if cpu < len(roles) else "thread"
        mark = "  <- found the violation" if cpu == violation.get("cpu") else ""
        lines.append(f"{indent}cpu {cpu} ({role}){mark}" + ("" if tail else ": no events"))
        for ts, kind, a, b in tail:
            lines.append(f"{indent}  {(ts - t_ref) / 1000:+11,.1f} us  {event_text(kind, a, b)}")
    return lines


def violation_text(ev: dict) -> str:
    """One violation on one line: invariant, when, where, what."""
    where = f" on cpu {ev['cpu']}" if ev.get("cpu") is not None else ""
    t = ev.get("t")
    when = f" at {t:.3f}s" if isinstance(t, (int, float)) else ""
    return f"VIOLATION [{ev.get('invariant', '?')}]{when}{where}: {one_line(ev.get('message', ''))}"


def count_by_invariant(counts: dict[str, int]) -> str:
    """{"stats": 5, "charge": 1} -> "charge 1, stats 5"."""
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())) or "-"


def new_table(title: str | None = None, *, show_header: bool = True, caption: str | None = None):
    """A rich Table in the one style every command's tables share: a simple
    rule under the header, no outer box, the title on the left."""
    from rich import box
    from rich.table import Table
    return Table(title=title, show_header=show_header, caption=caption, box=box.SIMPLE_HEAD,
                 title_justify="left", caption_justify="left", show_edge=False, pad_edge=False,
                 padding=(0, 1), collapse_padding=True)
