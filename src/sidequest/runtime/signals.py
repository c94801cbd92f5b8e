"""OS signals for a worker: TERM/INT stop gracefully, TSTP quiets, TTIN dumps thread stacks.

Handlers only set flags on the launcher; the real work happens in the launcher's own threads, so a
signal arriving mid-job never interrupts the job.
"""

from __future__ import annotations

import signal
from types import FrameType

from sidequest.runtime.launcher import Launcher

NAMES = {signal.SIGTERM: "TERM", signal.SIGINT: "INT", signal.SIGTSTP: "TSTP", signal.SIGTTIN: "TTIN"}


def install(launcher: Launcher) -> None:
    """Route the worker's signals to launcher (must run in the main thread)."""

    def handle(signum: int, frame: FrameType | None) -> None:
        launcher.handle_signal(NAMES[signal.Signals(signum)])

    for signum in NAMES:
        signal.signal(signum, handle)
