"""SIGINT and SIGTERM during a soak or a replay."""
from __future__ import annotations

import os
import signal
import threading

from .common import EXIT_INTERRUPTED


class Signals:
    """SIGINT/SIGTERM set stop_event (and call on_signal); a third one exits at once."""

    def __init__(self, stop_event: threading.Event, on_signal=None):
        self.stop_event = stop_event
        self.on_signal = on_signal
        self.received: list[str] = []
        self._old = {}

    def _handler(self, signum, frame):
        self.received.append(signal.Signals(signum).name)
        self.stop_event.set()
        if self.on_signal is not None:
            try:
                self.on_signal(signum)
            except Exception:
                pass
        if len(self.received) >= 3:
            os.write(2, b"memcg-stress: third signal; exiting without waiting for the threads\n")
            os._exit(EXIT_INTERRUPTED)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)
        self._old.clear()

    @property
    def interrupted(self) -> bool:
        return bool(self.received)
