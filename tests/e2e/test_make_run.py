"""First steps: `make run` says where it serves and how to sign in; Ctrl-C stops everything it started."""

import os
import signal
import subprocess
import threading
import time
import urllib.request

import psutil

from tests.conftest import free_port
from tests.e2e.conftest import PROJECT_DIR

STARTUP_SECONDS = 120
STOP_SECONDS = 30


def processes_using(path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(str(path) in part for part in process.info["cmdline"] or ()):
            found.append(process)
    return found


def test_make_run_announces_its_address_and_the_demo_sign_in_and_ctrl_c_leaves_nothing_running(project):
    port = free_port()
    socket_path = project.env["EMBEDDED_REDIS_SOCKET"]
    # A session of its own, as a terminal gives a command: Ctrl-C signals the whole foreground group.
    make = subprocess.Popen(
        ["make", "run", f"PORT={port}"],
        cwd=PROJECT_DIR,
        env=project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        announced = threading.Event()
        output = []

        def read():
            for line in make.stdout:
                output.append(line)
                if f"Serving on http://127.0.0.1:{port}/" in line:
                    announced.set()

        threading.Thread(target=read, daemon=True).start()
        assert announced.wait(STARTUP_SECONDS), "".join(output)
        assert "sign in as demo / demo" in "".join(output)
        assert "Ctrl-C" in "".join(output) and "make run PORT=8080 SERVER=daphne" in "".join(output)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as ready:
            assert ready.status == 200
        assert processes_using(socket_path), "the embedded Redis serves make run"

        os.killpg(make.pid, signal.SIGINT)
        make.wait(timeout=STOP_SECONDS)
        deadline = time.monotonic() + STOP_SECONDS
        while (left := processes_using(socket_path)) and time.monotonic() < deadline:
            psutil.wait_procs(left, timeout=1)
        assert processes_using(socket_path) == []
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
