"""Build the native core: one extension, stresscore._core.

The core is a single extension module so that the user-space RCU's
thread-local reader state, the per-cpu slot of each thread and the model's
globals exist exactly once in the process.  Set MEMCG_STRESS_DEBUG=1 to
build with lock-rule assertions compiled in (lockdep_assert_held aborts
instead of only counting).
"""
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

debug = os.environ.get("MEMCG_STRESS_DEBUG", "") not in ("", "0")
macros = [("MS_DEBUG", "1")] if debug else []
if os.environ.get("MEMCG_STRESS_NO_COUNTERS", "") not in ("", "0"):
    macros.append(("MS_COUNTERS", "0"))     # benchmark variant: no per-thread counters
if os.environ.get("MEMCG_STRESS_NO_WINDOWS", "") not in ("", "0"):
    macros.append(("MS_WINDOWS", "0"))      # benchmark variant: no race-window coverage counters
if os.environ.get("MEMCG_STRESS_NO_INLINE_CHECKS", "") not in ("", "0"):
    macros.append(("MS_INLINE_CHECKS", "0"))    # benchmark variant: no RCU lockdep, lock order, write-after-free images

ext = Extension(
    "stresscore._core",
    sources=["stresscore/_core.pyx", "stresscore/percpu.c", "stresscore/urcu.c",
             "stresscore/percpu_ref.c"],
    include_dirs=["stresscore"],
    define_macros=macros,
    extra_compile_args=["-O2", "-std=gnu11", "-pthread", "-Wno-unused-function"],
    extra_link_args=["-pthread"],
)

setup(
    ext_modules=cythonize(
        [ext],
        language_level=3,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
)
