"""Configuration of a run: one dataclass, its presets, and every rule on it.

Every option of `memcg-stress soak` is a field here, named the same (with
dashes for underscores on the command line, and as-is in a TOML file).
Validation raises ConfigError with a one-line message that names the option
and what is allowed; the CLI turns it into exit code 2.

This module owns every rule: the fields' ranges (Config.validate), the
spellings the command line and the files accept (durations like "30s",
whole numbers, POINT=PROB:MAX_US delays, "none" for no mutant, presets),
and the layering of a soak's configuration (resolve_layers: defaults <
preset < --config file < command-line options).  The CLI, the TOML and JSON
files and the pytest plugin only read their input and delegate here.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import os
import random
import re
from dataclasses import dataclass, field

from stresscore import _core

MODES = ("reparent", "legacy")
DELAY_POINTS = tuple(_core.DELAY_POINTS)
MAX_WORKERS = _core.MAX_CPUS - 11         # + controller, 4 kworkers, 2 RCU callback threads, module, active_memcg, cgroup and sysfs actors (defaults)
LONG_LIVED_MAX = _core.LONG_LIVED_MAX
MUTANTS_ALL = tuple(_core.MUTANT_IDS)
MAX_DURATION_S = 7 * 86400               # the longest running phase
MAX_SEED = 2**64                         # seeds are 0 to 2**64-1

# Default delay injection: (probability, maximum delay in microseconds) per
# point.  get_cache_entry, charge_memcg and uncharge_memcg fire only while
# their race window is open (an array growing; a dying memcg, a deactivated or
# killed cache), so they can be likely and long without slowing the fast path.
DEFAULT_DELAYS: dict[str, tuple[float, float]] = {
    "get_cache_entry": (0.5, 300.0),
    "charge_memcg": (0.3, 500.0),
    "uncharge_memcg": (0.3, 2000.0),
    "reparent_swap": (0.3, 200.0),
    "reparent_splice": (0.3, 200.0),
    "deactivate_dying": (1.0, 5000.0),
    "create_publish": (0.2, 100.0),
    "array_grow": (1.0, 1000.0),
    "flush_stats": (0.3, 100.0),
    "cache_kill": (0.3, 100.0),
    "page_free_put": (0.1, 500.0),
    "offline_kmem": (0.3, 200.0),
    "destroy_dying": (1.0, 5000.0),
    "sysfs_show": (1.0, 2000.0),
    "alloc_after_get": (1.0, 20000.0),
}


class ConfigError(ValueError):
    """A bad option or configuration key (one line, names what is allowed)."""

    @property
    def detail(self) -> str:
        """The message without the leading "option: " it names."""
        return str(self).partition(": ")[2] or str(self)


def one_line(text: object) -> str:
    """`text` with every run of white space (newlines included) as one space."""
    return " ".join(str(text).split())


def check_mode(mode) -> str:
    if mode not in MODES:
        raise ConfigError(f"mode: unknown mode {mode!r}; valid: {', '.join(MODES)}")
    return mode


def check_mutant(name: str) -> str:
    if name not in MUTANTS_ALL:
        raise ConfigError(f"mutant: unknown mutant {name!r}; valid: none, {', '.join(MUTANTS_ALL)}")
    return name


def parse_mutant(text: str) -> str | None:
    """A mutant's name as given on a command line or in a file: "none" (any
    case) is no mutant."""
    return None if text.lower() == "none" else check_mutant(text)


def check_preset(name) -> str:
    if not isinstance(name, str) or name not in PRESETS:
        raise ConfigError(f"preset: unknown preset {name!r}; valid: {', '.join(PRESETS)}")
    return name


@dataclass
class Config:
    duration: float = 30.0               # seconds of the running phase; 0: until interrupted
    workers: int = 0                     # 0: one per core
    mode: str = "reparent"
    mutant: str | None = None
    seed: int | None = None              # None: random, always recorded
    max_memcgs: int = 16
    max_depth: int = 3
    max_held: int = 4096                 # objects one worker holds at most
    long_lived: int = 1024               # objects a worker keeps long (they outlive their cgroup), 0: none
    long_lived_ppm: int = 2000           # of allocations, per million: kept in the long-lived set
    alloc_pct: int = 50
    send_pct: int = 10
    controller: bool = True
    controller_interval_us: int = 200
    controller_weights: tuple[int, int, int, int, int] = (20, 20, 40, 6, 4)  # mkdir rmdir migrate module limit
    kworkers: int = 4                    # kworker threads serving the per-CPU workqueues
    rcu_threads: int = 2                 # RCU callback threads serving the per-CPU callback lists
    module_actor: bool = True            # module caches in their own thread (else the controller's "module" weight)
    module_interval_us: int = 1000       # module actor pacing
    active_memcg_actor: bool = True      # a memalloc_use_memcg() user allocating for a memcg it holds a css reference on
    active_memcg_interval_us: int = 20   # its pacing
    cgroup_actor: bool = True            # mkdir/rmdir in their own thread (else the controller's)
    cgroup_interval_us: int = 200        # its pacing
    sysfs_actor: bool = True             # a /sys/kernel/slab user: finds caches in sysfs, reads objects/slabs, writes shrink
    sysfs_interval_us: int = 100         # its pacing
    hotplug_actor: bool = True           # a user writing /sys/devices/system/cpu/cpuN/online: takes CPUs down and up
    hotplug_interval_us: int = 5000      # its pacing
    hotplug_spares: int = 1              # CPUs beyond the threads' own, online and idle at the start (where tasks move)
    sysfs_deactivate_remove: bool = False  # 5.4's early sysfs_slab_remove() at deactivation (reproduces its kobject leak)
    lockdep_shrink_hotplug: bool = False  # lockdep records a shrink write's cpus_read_lock (5.4's kn->count/cpu_hotplug_lock splat, README finding 10)
    sysfs_shrink_roots: bool = False     # it also writes shrink of the built-in root caches (5.4's kernfs/slab_mutex order: a lock-order report)
    steer: str = "none"                  # "coverage": weight delays and actors toward windows not yet raced (stress/steer.py)
    fix_root_drift: bool = field(default_factory=lambda: os.environ.get("MEMCG_STRESS_FIX_ROOT_DRIFT") == "1")         # memcg_uncharge_slab takes its root branch by the page's charge, not the cache's memcg (README finding 8 fixed)
    fix_hotplug_fold: bool = field(default_factory=lambda: os.environ.get("MEMCG_STRESS_FIX_HOTPLUG_FOLD") == "1")  # memcg_hotplug_cpu_dead folds the dead CPU's residues into every ancestor (README finding 9, first part, fixed)
    fix_flush_offline: bool = field(default_factory=lambda: os.environ.get("MEMCG_STRESS_FIX_HOTPLUG_FOLD") == "1")  # memcg_flush_percpu_vmstats reads every possible CPU, not only online ones (README finding 9, second part, fixed)
    root_weights: tuple[float, ...] = (30, 15, 35, 10, 2.5, 2.5, 2.5, 2.5)
    checkpoint_interval: float = 0.05    # seconds; 0: only the final check
    delay_injection: bool = True
    delays: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_DELAYS))
    stop_on_violation: bool = True
    stat_interval: float = 1.0
    # stall bounds, seconds (0: off): a grace period, a queued work, an offline
    stall_gp: float = 5.0
    stall_work: float = 5.0
    stall_offline: float = 20.0
    drain_timeout: float = 120.0         # seconds the drain may take before its stall is reported by thread

    def __post_init__(self):
        # the spellings a TOML file and the command line take: durations
        # like "2s" or "50ms", "none" for no mutant
        for name in DURATION_KEYS:
            v = getattr(self, name)
            if isinstance(v, str):
                setattr(self, name, option_duration(name, v))
        if isinstance(self.mutant, str) and self.mutant.lower() == "none":
            self.mutant = None

    def resolved_workers(self) -> int:
        return self.workers or max(1, min(os.cpu_count() or 2, MAX_WORKERS))

    def validate(self) -> "Config":
        def bad(opt, what):
            raise ConfigError(f"{opt}: {what}")
        if not isinstance(self.workers, int) or isinstance(self.workers, bool) or not 0 <= self.workers <= MAX_WORKERS:
            bad("workers", f"must be a whole number from 0 (one per core) to {MAX_WORKERS}, got {self.workers!r}")
        check_mode(self.mode)
        if self.mutant is not None and self.mutant not in MUTANTS_ALL:
            bad("mutant", f"unknown mutant {self.mutant!r}; valid: {', '.join(MUTANTS_ALL)}")
        if not isinstance(self.duration, (int, float)) or self.duration < 0 or self.duration > MAX_DURATION_S:
            bad("duration", f"must be from 0 (until interrupted) to 7 days, got {self.duration!r}")
        if self.seed is not None and (not isinstance(self.seed, int) or not 0 <= self.seed < MAX_SEED):
            bad("seed", f"must be a whole number from 0 to 2**64-1, got {self.seed!r}")
        for name, lo, hi in (("max_memcgs", 0, 255), ("max_depth", 1, 64), ("max_held", 1, 50_000_000),
                             ("long_lived", 0, LONG_LIVED_MAX), ("long_lived_ppm", 0, 1_000_000),
                             ("alloc_pct", 0, 100), ("send_pct", 0, 100),
                             ("controller_interval_us", 0, 10_000_000), ("kworkers", 1, 8),
                             ("rcu_threads", 1, 8), ("module_interval_us", 0, 10_000_000),
                             ("active_memcg_interval_us", 0, 10_000_000), ("cgroup_interval_us", 0, 10_000_000),
                             ("sysfs_interval_us", 0, 10_000_000), ("hotplug_interval_us", 0, 10_000_000),
                             ("hotplug_spares", 0, 8)):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                bad(name.replace("_", "-"), f"must be a whole number from {lo} to {hi}, got {v!r}")
        if self.workers + 1 + self.kworkers + self.rcu_threads + bool(self.module_actor) \
                + bool(self.active_memcg_actor) + bool(self.cgroup_actor) + bool(self.sysfs_actor) \
                + (1 + self.hotplug_spares if self.hotplug_actor and self.resolved_workers() else 0) > _core.MAX_CPUS:
            bad("workers", f"workers + kworkers + rcu-threads + the controller and actors (and the hotplug "
                           f"spares) must be at most {_core.MAX_CPUS} CPUs")
        for name in ("controller", "sysfs_shrink_roots", "sysfs_deactivate_remove", "fix_root_drift",
                     "fix_hotplug_fold", "fix_flush_offline", "lockdep_shrink_hotplug") + ACTOR_SWITCHES:
            if not isinstance(getattr(self, name), bool):
                bad(name.replace("_", "-"), f"expected true or false, got {getattr(self, name)!r}")
        if self.steer not in ("none", "coverage"):
            bad("steer", f"none or coverage, got {self.steer!r}")
        if self.alloc_pct + self.send_pct > 100:
            bad("send-pct", "alloc-pct + send-pct must be at most 100")
        if len(self.controller_weights) != 5 or any(w < 0 for w in self.controller_weights):
            bad("controller-weights", "five weights >= 0: mkdir rmdir migrate module limit")
        if not 1 <= len(self.root_weights) <= 16 or any(w < 0 for w in self.root_weights) or sum(self.root_weights) <= 0:
            bad("root-weights", "1 to 16 weights >= 0, not all zero")
        if not isinstance(self.drain_timeout, (int, float)) or isinstance(self.drain_timeout, bool) \
                or not 0 < self.drain_timeout <= 3600:
            bad("drain-timeout", f"must be more than 0 and at most 3600 seconds, got {self.drain_timeout!r}")
        for name in ("checkpoint_interval", "stat_interval", "stall_gp", "stall_work", "stall_offline"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or v < 0 or v > 3600:
                bad(name.replace("_", "-"), f"must be from 0 to 3600 seconds, got {v!r}")
        for point, pm in self.delays.items():
            if point not in DELAY_POINTS:
                bad("delay", f"unknown delay point {point!r}; valid: {', '.join(DELAY_POINTS)}")
            prob, max_us = pm
            if not 0 <= prob <= 1 or not 0 <= max_us <= 1_000_000:
                bad("delay", f"{point}: probability must be in [0, 1] and max delay in [0, 1000000] us")
        return self

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["controller_weights"] = list(self.controller_weights)
        d["root_weights"] = list(self.root_weights)
        d["delays"] = {k: list(v) for k, v in self.delays.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict, *, where: str = "config") -> "Config":
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {}
        for k, v in d.items():
            key = k.replace("-", "_")
            if key not in names:
                raise ConfigError(f"{where}: unknown key {k!r}; valid: {', '.join(sorted(names))}")
            if key in ("controller_weights", "root_weights") and isinstance(v, list):
                v = tuple(v)
            if key == "delays":
                if not isinstance(v, dict):
                    raise ConfigError(f"{where}: delays must be a table of point = [probability, max_us]")
                try:
                    v = {p: (float(x[0]), float(x[1])) for p, x in v.items()}
                except (TypeError, ValueError, IndexError):
                    raise ConfigError(f"{where}: delays must map each point to [probability, max_us]") from None
            kw[key] = v
        try:
            return cls(**kw).validate()
        except TypeError as e:
            raise ConfigError(f"{where}: {e}") from None

    def native(self, seed: int) -> dict:
        """The dict stresscore._core.engine_setup takes."""
        return {
            "workers": self.resolved_workers(),
            "mode": self.mode,
            "mutant": self.mutant,
            "seed": seed,
            "max_memcgs": self.max_memcgs,
            "max_depth": self.max_depth,
            "max_held": self.max_held,
            "long_lived": self.long_lived,
            "long_lived_ppm": self.long_lived_ppm,
            "alloc_pct": self.alloc_pct,
            "send_pct": self.send_pct,
            "controller": self.controller,
            "controller_interval_us": self.controller_interval_us,
            "controller_weights": tuple(self.controller_weights),
            "kworkers": self.kworkers,
            "rcu_threads": self.rcu_threads,
            "module_actor": self.module_actor,
            "module_interval_us": self.module_interval_us,
            "active_memcg_actor": self.active_memcg_actor,
            "active_memcg_interval_us": self.active_memcg_interval_us,
            "cgroup_actor": self.cgroup_actor,
            "cgroup_interval_us": self.cgroup_interval_us,
            "sysfs_actor": self.sysfs_actor,
            "sysfs_interval_us": self.sysfs_interval_us,
            "sysfs_shrink_roots": self.sysfs_shrink_roots,
            "hotplug_actor": self.hotplug_actor,
            "hotplug_interval_us": self.hotplug_interval_us,
            "hotplug_spares": self.hotplug_spares,
            "fix_hotplug_fold": self.fix_hotplug_fold,
            "fix_flush_offline": self.fix_flush_offline,
            "lockdep_shrink_hotplug": self.lockdep_shrink_hotplug,
            "sysfs_deactivate_remove": self.sysfs_deactivate_remove,
            "fix_root_drift": self.fix_root_drift,
            "root_weights": tuple(self.root_weights),
            "checkpoint_interval": self.checkpoint_interval,
            "delays": self.delays if self.delay_injection else {},
        }


PRESETS: dict[str, dict] = {
    # a quick look: a few seconds, everything on
    "smoke": {"duration": 5.0, "max_memcgs": 8},
    # the default scenario
    "default": {},
    # harder: more cgroups, deeper, faster controller, heavier delays
    "tough": {"duration": 300.0, "max_memcgs": 48, "max_depth": 5, "controller_interval_us": 50,
              "checkpoint_interval": 0.02,
              "delays": {k: (min(1.0, p * 3), m * 2) for k, (p, m) in DEFAULT_DELAYS.items()}},
}


_DUR = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(text: str | float | int) -> float:
    """'30s', '5m', '2h', '1.5', 0 -> seconds.  ConfigError otherwise."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if text < 0:
            raise ConfigError(f"duration: must not be negative, got {text!r}")
        return float(text)
    m = _DUR.match(str(text))
    if not m:
        raise ConfigError(f"duration: {text!r} is not a duration like 30s, 5m, 2h or 0 (until interrupted)")
    mult = {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    return float(m.group(1)) * mult


def option_duration(name: str, value) -> float:
    """parse_duration for the option `name` (its name leads the message)."""
    try:
        return parse_duration(value)
    except ConfigError as e:
        msg = str(e)
        if msg.startswith("duration: "):
            msg = msg[len("duration: "):]
        raise ConfigError(f"{name.replace('_', '-')}: {msg}") from None


def whole_number(name: str, text) -> int:
    """An int, or text that spells one (0x.. and 0o.. too)."""
    if isinstance(text, bool):
        raise ConfigError(f"{name}: expected a whole number, got {text!r}")
    if isinstance(text, int):
        return text
    try:
        return int(str(text).strip(), 0)
    except ValueError:
        raise ConfigError(f"{name}: {text!r} is not a whole number") from None


def parse_delay(text: str, current: dict[str, tuple[float, float]]) -> tuple[str, tuple[float, float]]:
    """'POINT=PROB:MAX_US' (or 'POINT=PROB', keeping the point's maximum)."""
    form = "POINT=PROB:MAX_US, e.g. reparent_swap=0.3:200"
    if not isinstance(text, str) or "=" not in text:
        raise ConfigError(f"delay: {text!r} is not {form}")
    point, _, spec = text.partition("=")
    point = point.strip().replace("-", "_")
    if point not in DELAY_POINTS:
        raise ConfigError(f"delay: unknown delay point {point!r}; valid: {', '.join(DELAY_POINTS)}")
    prob_s, sep, max_s = spec.partition(":")
    try:
        prob = float(prob_s)
        max_us = float(max_s) if sep else current.get(point, DEFAULT_DELAYS[point])[1]
    except ValueError:
        raise ConfigError(f"delay: {text!r} is not {form}") from None
    if not (0 <= prob <= 1) or not (0 <= max_us <= 1_000_000) or math.isnan(prob) or math.isnan(max_us):
        raise ConfigError(f"delay: {point}: probability must be in [0, 1] and max delay in [0, 1000000] us")
    return point, (prob, max_us)


def delay_table(where: str, table) -> dict[str, tuple[float, float]]:
    """A file's `delays` table: point = [probability, max_us]."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: delays must be a table of point = [probability, max_us]")
    out = {}
    for p, x in table.items():
        key = p.replace("-", "_")
        if key not in DELAY_POINTS:
            raise ConfigError(f"{where}: delays: unknown delay point {p!r}; valid: {', '.join(DELAY_POINTS)}")
        try:
            out[key] = (float(x[0]), float(x[1]))
        except (TypeError, ValueError, IndexError, KeyError):
            raise ConfigError(f"{where}: delays.{p} must be [probability, max_us]") from None
    return out


# ---------------------------------------------------------------------------
# the layers of a soak's configuration

FIELDS = {f.name for f in dataclasses.fields(Config)}
#: keys a --config file may hold beside Config's fields (the soak options that are not fields)
FILE_ONLY = {"preset", "out", "output", "quiet", "keep_going", "no_delays", "delay"}
ALIASES = {"max_cgroups": "max_memcgs", "output": "out"}
DURATION_KEYS = ("duration", "checkpoint_interval", "stat_interval")
#: soak options that are whole numbers, named as the fields
NUMBER_OPTIONS = ("max_memcgs", "max_depth", "max_held", "long_lived", "long_lived_ppm", "alloc_pct", "send_pct", "controller_interval_us",
                  "kworkers", "rcu_threads", "module_interval_us", "active_memcg_interval_us",
                  "cgroup_interval_us", "sysfs_interval_us", "hotplug_interval_us", "hotplug_spares")
#: soak switches --no-<actor> (Config field: the actor runs)
ACTOR_SWITCHES = ("module_actor", "active_memcg_actor", "cgroup_actor", "sysfs_actor", "hotplug_actor")


@dataclass
class Layers:
    """What resolve_layers makes of a soak's configuration."""
    config: Config                    # validated, seed and workers resolved
    out: str | None
    quiet: bool
    preset: str | None


def resolve_layers(args, file_data: dict, file_name: str | None) -> Layers:
    """Config() defaults < preset < the --config file's keys (`file_data`,
    read from `file_name`) < the command-line options (`args`: soak's
    options as attributes, None where not given)."""
    norm: dict = {}
    for k, v in file_data.items():
        key = ALIASES.get(k.replace("-", "_"), k.replace("-", "_"))
        if key not in FIELDS and key not in FILE_ONLY:
            valid = sorted((FIELDS | FILE_ONLY) - {"output"})
            raise ConfigError(f"{file_name}: unknown key {k!r}; valid: {', '.join(valid)}")
        norm[key] = v

    preset = args.preset if args.preset is not None else norm.pop("preset", None)
    norm.pop("preset", None)
    if preset is not None:
        try:
            check_preset(preset)
        except ConfigError as e:
            raise ConfigError(f"{file_name}: {e}" if args.preset is None else str(e)) from None
    d: dict = copy.deepcopy(PRESETS[preset]) if preset else {}
    delays = dict(DEFAULT_DELAYS)
    delays.update(d.pop("delays", {}))

    # the file's layer
    out = quiet = None
    try:
        for key in DURATION_KEYS:
            if key in norm:
                norm[key] = option_duration(key, norm[key])
        out = norm.pop("out", None)
        if out is not None and not isinstance(out, str):
            raise ConfigError(f"out: expected a folder name, got {out!r}")
        quiet = norm.pop("quiet", None)
        keep_going = norm.pop("keep_going", None)
        no_delays = norm.pop("no_delays", None)
        for name, val in (("quiet", quiet), ("keep_going", keep_going), ("no_delays", no_delays)):
            if val is not None and not isinstance(val, bool):
                raise ConfigError(f"{name.replace('_', '-')}: expected true or false, got {val!r}")
        if keep_going is not None:
            norm["stop_on_violation"] = not keep_going
        if no_delays:
            norm["delay_injection"] = False
        if "delays" in norm:
            delays.update(delay_table("delays", norm.pop("delays")))
        dl = norm.pop("delay", [])
        for item in [dl] if isinstance(dl, str) else dl if isinstance(dl, list) else [dl]:
            p, pm = parse_delay(item, delays)
            delays[p] = pm
        if "mutant" in norm and isinstance(norm["mutant"], str) and norm["mutant"].lower() == "none":
            norm["mutant"] = None
        d.update(norm)
        if file_name:
            Config.from_dict({**d, "delays": delays}, where=file_name)
    except ConfigError as e:
        if file_name and not str(e).startswith(file_name):
            raise ConfigError(f"{file_name}: {e}") from None
        raise

    # the command line's layer
    for key in DURATION_KEYS:
        if getattr(args, key) is not None:
            d[key] = option_duration(key, getattr(args, key))
    if args.workers is not None:
        n = whole_number("workers", args.workers)
        if not 0 <= n <= MAX_WORKERS:
            raise ConfigError(f"workers: must be a whole number from 0 (one per core) to {MAX_WORKERS}, got {n}")
        d["workers"] = n
    for opt in NUMBER_OPTIONS:
        val = getattr(args, opt, None)
        if val is not None:
            d[opt] = whole_number(opt.replace("_", "-"), val)
    if args.mode is not None:
        d["mode"] = check_mode(args.mode)
    if args.mutant is not None:
        d["mutant"] = parse_mutant(args.mutant)
    if args.seed is not None:
        d["seed"] = whole_number("seed", args.seed)
    if args.no_controller:
        d["controller"] = False
    if getattr(args, "fix_root_drift", False):
        d["fix_root_drift"] = True
    if getattr(args, "fix_hotplug_fold", False):
        d["fix_hotplug_fold"] = True
        d["fix_flush_offline"] = True
    if getattr(args, "steer", None) is not None:
        d["steer"] = args.steer
    for actor in ACTOR_SWITCHES:
        if getattr(args, "no_" + actor, False):
            d[actor] = False
    for item in args.delay or []:
        p, pm = parse_delay(item, delays)
        delays[p] = pm
    if args.no_delays:
        d["delay_injection"] = False
    if args.stop_on_violation is not None:
        d["stop_on_violation"] = args.stop_on_violation
    if args.out is not None:
        out = args.out
    if args.quiet:
        quiet = True
    d["delays"] = delays

    config = Config.from_dict(d, where="config")
    if config.seed is None:
        config.seed = random.SystemRandom().randrange(2**63)
    config.workers = config.resolved_workers()
    config.validate()
    return Layers(config=config, out=out, quiet=bool(quiet), preset=preset)
