"""Child processes that do not outlive their parent, however it ends (Linux)."""

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # prctl(2): the signal the kernel sends a process when its parent dies


def stop_with_parent(parent_pid: int) -> None:
    """A Popen `preexec_fn`: the child is sent SIGTERM when `parent_pid`, its parent, dies (even by SIGKILL).

    Elsewhere than on Linux it does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != parent_pid:  # it died before the call
        os._exit(1)
