"""Per-thread hardware and software counters through perf_event_open(2).

No dependency beyond ctypes: the perf_event_attr struct is built here and the
syscall is made through libc's syscall(3).  One counter per (thread, event),
opened on a thread id (any CPU), counting user and kernel time where the
kernel allows it and user time only where perf_event_paranoid forbids kernel
profiling.  Whatever the machine or the kernel does not allow -- no PMU in a
VM (ENOENT), an event the PMU lacks (EOPNOTSUPP/EINVAL), perf_event_paranoid
or a seccomp filter (EACCES/EPERM), no syscall at all (ENOSYS), another
architecture -- is recorded as "not supported" with the reason; nothing here
raises out of the public functions.

    pc = PerfCounters()
    pc.add_thread(th.native_id, role="worker", cpu=0)
    pc.start()
    ...
    data = pc.stop()     # {"threads": [...], "support": {...}, ...}

Values: task_clock_ns in nanoseconds, everything else a count.  A counter
that the kernel multiplexed (hardware counters, when there are more than the
PMU has registers) is scaled by time_enabled / time_running, as perf stat
does, and marked in "multiplexed".
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import platform
import struct
from typing import Iterable

NOT_SUPPORTED = "not supported"

_SYSCALL_NR = {"x86_64": 298, "amd64": 298, "aarch64": 241, "arm64": 241,
               "i386": 336, "i686": 336, "armv7l": 364, "riscv64": 241, "ppc64le": 319, "s390x": 331}

PERF_TYPE_HARDWARE = 0
PERF_TYPE_SOFTWARE = 1

PERF_COUNT_HW_CPU_CYCLES = 0
PERF_COUNT_HW_INSTRUCTIONS = 1
PERF_COUNT_HW_CACHE_REFERENCES = 2
PERF_COUNT_HW_CACHE_MISSES = 3
PERF_COUNT_HW_BRANCH_MISSES = 5

PERF_COUNT_SW_TASK_CLOCK = 1
PERF_COUNT_SW_PAGE_FAULTS = 2
PERF_COUNT_SW_CONTEXT_SWITCHES = 3
PERF_COUNT_SW_CPU_MIGRATIONS = 4

PERF_FORMAT_TOTAL_TIME_ENABLED = 1 << 0
PERF_FORMAT_TOTAL_TIME_RUNNING = 1 << 1

# perf_event_attr.flags bits
_F_DISABLED = 1 << 0
_F_EXCLUDE_KERNEL = 1 << 5
_F_EXCLUDE_HV = 1 << 6

PERF_FLAG_FD_CLOEXEC = 1 << 3

# ioctls: _IO('$', 0) and _IO('$', 1), _IO('$', 3)
PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_DISABLE = 0x2401
PERF_EVENT_IOC_RESET = 0x2403

PERF_ATTR_SIZE_VER5 = 112

# (name, type, config): software first, then hardware.
EVENTS: tuple[tuple[str, int, int], ...] = (
    ("task_clock_ns", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK),
    ("context_switches", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES),
    ("cpu_migrations", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_MIGRATIONS),
    ("page_faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS),
    ("cycles", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES),
    ("instructions", PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS),
    ("cache_references", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_REFERENCES),
    ("cache_misses", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_MISSES),
    ("branch_misses", PERF_TYPE_HARDWARE, PERF_COUNT_HW_BRANCH_MISSES),
)
EVENT_NAMES = tuple(e[0] for e in EVENTS)
SOFTWARE_EVENTS = tuple(e[0] for e in EVENTS if e[1] == PERF_TYPE_SOFTWARE)
HARDWARE_EVENTS = tuple(e[0] for e in EVENTS if e[1] == PERF_TYPE_HARDWARE)


class PerfEventAttr(ctypes.Structure):
    """struct perf_event_attr up to PERF_ATTR_SIZE_VER5 (112 bytes)."""
    _fields_ = [
        ("type", ctypes.c_uint32),
        ("size", ctypes.c_uint32),
        ("config", ctypes.c_uint64),
        ("sample_period", ctypes.c_uint64),
        ("sample_type", ctypes.c_uint64),
        ("read_format", ctypes.c_uint64),
        ("flags", ctypes.c_uint64),
        ("wakeup_events", ctypes.c_uint32),
        ("bp_type", ctypes.c_uint32),
        ("config1", ctypes.c_uint64),
        ("config2", ctypes.c_uint64),
        ("branch_sample_type", ctypes.c_uint64),
        ("sample_regs_user", ctypes.c_uint64),
        ("sample_stack_user", ctypes.c_uint32),
        ("clockid", ctypes.c_int32),
        ("sample_regs_intr", ctypes.c_uint64),
        ("aux_watermark", ctypes.c_uint32),
        ("sample_max_stack", ctypes.c_uint16),
        ("reserved_2", ctypes.c_uint16),
    ]


assert ctypes.sizeof(PerfEventAttr) == PERF_ATTR_SIZE_VER5

_libc = None


def _syscall():
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(None, use_errno=True)
            _libc.syscall.restype = ctypes.c_long
        except OSError:
            _libc = False
    return _libc or None


def syscall_number() -> int | None:
    if not hasattr(os, "uname") or os.uname().sysname != "Linux":
        return None
    return _SYSCALL_NR.get(platform.machine().lower())


def paranoid() -> int | None:
    """/proc/sys/kernel/perf_event_paranoid, or None where it cannot be read."""
    try:
        with open("/proc/sys/kernel/perf_event_paranoid") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _reason(err: int) -> str:
    name = errno.errorcode.get(err, str(err))
    why = {
        errno.ENOENT: "no such event here (no PMU, e.g. a VM)",
        errno.EOPNOTSUPP: "the PMU does not support this event",
        errno.EINVAL: "the kernel rejected the event",
        errno.EACCES: "not permitted (perf_event_paranoid)",
        errno.EPERM: "not permitted (capability, seccomp or perf_event_paranoid)",
        errno.ENOSYS: "no perf_event_open system call",
        errno.ENODEV: "no such PMU",
        errno.ESRCH: "the thread has exited",
        errno.EMFILE: "too many open files",
    }.get(err, os.strerror(err))
    return f"{name}: {why}"


def _open(tid: int, etype: int, config: int, exclude_kernel: bool) -> tuple[int, int]:
    """(fd, 0) or (-1, errno)."""
    nr = syscall_number()
    libc = _syscall()
    if nr is None or libc is None:
        return -1, errno.ENOSYS
    attr = PerfEventAttr()
    attr.type = etype
    attr.size = ctypes.sizeof(PerfEventAttr)
    attr.config = config
    attr.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING
    attr.flags = _F_DISABLED | ((_F_EXCLUDE_KERNEL | _F_EXCLUDE_HV) if exclude_kernel else 0)
    fd = libc.syscall(ctypes.c_long(nr), ctypes.byref(attr), ctypes.c_int(tid), ctypes.c_int(-1),
                      ctypes.c_int(-1), ctypes.c_ulong(PERF_FLAG_FD_CLOEXEC))
    if fd < 0:
        return -1, ctypes.get_errno() or errno.EINVAL
    return int(fd), 0


def _read(fd: int) -> tuple[int, bool] | None:
    """(scaled value, multiplexed) or None."""
    try:
        data = os.read(fd, 24)
    except OSError:
        return None
    if len(data) < 24:
        return None
    value, enabled, running = struct.unpack("QQQ", data)
    if running == 0:
        return (0, enabled > 0) if value == 0 else (value, False)
    if running < enabled:
        return int(round(value * enabled / running)), True
    return value, False


def _ioctl(fd: int, req: int) -> None:
    try:
        fcntl.ioctl(fd, req, 0)
    except OSError:
        pass


class PerfCounters:
    """Counters for a set of threads.  Never raises from its methods; what
    cannot be counted is "not supported" with a reason in `support`."""

    def __init__(self, events: Iterable[str] | None = None):
        names = tuple(events) if events is not None else EVENT_NAMES
        self.events = [e for e in EVENTS if e[0] in names]
        self.paranoid = paranoid()
        self.support: dict[str, str] = {}       # event -> "ok" or "not supported (reason)"
        self.scope: dict[str, str] = {}         # event -> "user+kernel" or "user"
        self.threads: list[dict] = []           # {tid, role, cpu, name, fds: {event: fd}}
        self._started = False
        self._closed = False
        self._final: list[dict] | None = None

    def add_thread(self, tid: int | None, *, role: str | None = None, cpu: int | None = None,
                   name: str | None = None) -> dict:
        entry = {"tid": tid, "role": role, "cpu": cpu, "name": name, "fds": {}, "errors": {}}
        self.threads.append(entry)
        if tid is None:
            for ev, _, _ in self.events:
                entry["errors"][ev] = "the thread has no native id"
            return entry
        for ev, etype, config in self.events:
            prior = self.support.get(ev, "")
            if prior.startswith(NOT_SUPPORTED) and "ESRCH" not in prior and "EMFILE" not in prior:
                entry["errors"][ev] = prior   # known unsupported: do not retry per thread
                continue
            excl = self.scope.get(ev) == "user"
            fd, err = _open(tid, etype, config, excl)
            if fd < 0 and err in (errno.EACCES, errno.EPERM) and not excl:
                # perf_event_paranoid >= 2 without CAP_PERFMON: user space only
                fd, err = _open(tid, etype, config, True)
                if fd >= 0:
                    excl = True
            if fd < 0:
                msg = f"{NOT_SUPPORTED} ({_reason(err)})"
                entry["errors"][ev] = msg
                if err != errno.ESRCH:
                    self.support.setdefault(ev, msg)
                continue
            entry["fds"][ev] = fd
            self.support[ev] = "ok"
            self.scope[ev] = "user" if excl else "user+kernel"
            if self._started:
                _ioctl(fd, PERF_EVENT_IOC_RESET)
                _ioctl(fd, PERF_EVENT_IOC_ENABLE)
        return entry

    def start(self) -> None:
        self._started = True
        for th in self.threads:
            for fd in th["fds"].values():
                _ioctl(fd, PERF_EVENT_IOC_RESET)
                _ioctl(fd, PERF_EVENT_IOC_ENABLE)

    def read(self) -> list[dict]:
        """Per thread: {tid, role, cpu, name, counters: {event: int | "not supported"},
        multiplexed: [events]}.  Readable after the thread has exited."""
        if self._final is not None:
            return self._final
        out = []
        for th in self.threads:
            counters: dict[str, int | str] = {}
            mux = []
            for ev, _, _ in self.events:
                fd = th["fds"].get(ev)
                r = _read(fd) if fd is not None else None
                if r is None:
                    counters[ev] = NOT_SUPPORTED
                else:
                    counters[ev] = r[0]
                    if r[1]:
                        mux.append(ev)
            out.append({"tid": th["tid"], "role": th["role"], "cpu": th["cpu"], "name": th["name"],
                        "counters": counters, "multiplexed": mux})
        return out

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for th in self.threads:
            for fd in th["fds"].values():
                try:
                    os.close(fd)
                except OSError:
                    pass
            th["fds"] = {}

    def stop(self) -> dict:
        """Disable, read, close; the dict that goes into Result.perf."""
        try:
            for th in self.threads:
                for fd in th["fds"].values():
                    _ioctl(fd, PERF_EVENT_IOC_DISABLE)
            threads = self.read()
            self._final = threads
        except Exception as e:   # never let the counters break a run
            threads = []
            self.support.setdefault("error", f"{NOT_SUPPORTED} ({type(e).__name__}: {e})")
        finally:
            self.close()
        return self.as_dict(threads)

    def as_dict(self, threads: list[dict] | None = None) -> dict:
        threads = self.read() if threads is None else threads
        support = {}
        for ev, _, _ in self.events:
            support[ev] = self.support.get(ev, f"{NOT_SUPPORTED} (no thread to count)")
        return {
            "events": [e[0] for e in self.events],
            "support": support,
            "scope": {ev: self.scope.get(ev) for ev, _, _ in self.events},
            "paranoid": self.paranoid,
            "threads": threads,
            "totals": totals(threads, [e[0] for e in self.events]),
        }


def totals(threads: list[dict], events: Iterable[str]) -> dict:
    """Sum of each event over the threads; "not supported" if no thread counted it."""
    out: dict[str, int | str] = {}
    for ev in events:
        vals = [t["counters"].get(ev) for t in threads]
        nums = [v for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
        out[ev] = sum(nums) if nums else NOT_SUPPORTED
    return out


def probe(events: Iterable[str] | None = None) -> dict[str, str]:
    """What this machine supports: {event: "ok" | "not supported (reason)"},
    measured on the calling thread."""
    try:
        pc = PerfCounters(events)
        pc.add_thread(threading_native_id(), role="probe")
        support = dict(pc.as_dict([])["support"])
        pc.close()
        return support
    except Exception as e:    # pragma: no cover - defensive
        return {ev: f"{NOT_SUPPORTED} ({type(e).__name__}: {e})" for ev in EVENT_NAMES}


def threading_native_id() -> int | None:
    import threading
    try:
        return threading.get_native_id()
    except (AttributeError, OSError):
        return None


def unsupported(reason: str | None = None) -> dict:
    """A Result.perf for when counting was not attempted at all."""
    return {"events": list(EVENT_NAMES), "support": {ev: f"{NOT_SUPPORTED} ({reason or 'not recorded'})"
                                                     for ev in EVENT_NAMES},
            "scope": {ev: None for ev in EVENT_NAMES}, "paranoid": paranoid(), "threads": [],
            "totals": {ev: NOT_SUPPORTED for ev in EVENT_NAMES}}


if __name__ == "__main__":     # python -m stress.perfcounters: what this machine supports
    print(f"perf_event_paranoid = {paranoid()}, syscall = {syscall_number()}")
    for ev, st in probe().items():
        print(f"  {ev:18} {st}")
