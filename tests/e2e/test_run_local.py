"""`make run` serves with the worker beside the server, and nothing it starts outlives it."""

import signal
import subprocess
import sys
import threading

import psutil

from tests.conftest import free_port
from tests.e2e.conftest import PROJECT_DIR, graphql_post

STARTUP_SECONDS = 60


class Lines:
    """A process's output, read on a thread of its own so that waiting for a line has a deadline."""

    def __init__(self, stream):
        self.seen: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            with self._changed:
                self.seen.append(line)
                self._changed.notify_all()

    def wait_for(self, text: str, *, timeout: float) -> bool:
        """Whether a line containing `text` arrived within `timeout` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: any(text in line for line in self.seen), timeout=timeout)


def test_the_server_and_the_worker_start_together_and_stop_together(project):
    port = free_port()
    launcher = subprocess.Popen(
        [sys.executable, "-m", "api.run_local", "daphne", "--port", str(port)],
        cwd=PROJECT_DIR,
        env=project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # The worker logs its first claim's outcome only once the server answered it.
        lines = Lines(launcher.stdout)
        assert lines.wait_for("Listening for work", timeout=STARTUP_SECONDS), "".join(lines.seen)
        children = psutil.Process(launcher.pid).children(recursive=True)
        commands = [" ".join(child.cmdline()) for child in children]
        assert any("run_worker" in command for command in commands), commands
        token = project.manage("create_api_token", "pipeline", "--create-user", "--service").strip()
        viewer = graphql_post(f"http://127.0.0.1:{port}/graphql/", "{ viewer { isService } }", token=token)
        assert viewer == {"data": {"viewer": {"isService": True}}}

        launcher.send_signal(signal.SIGINT)
        launcher.wait(timeout=30)

        gone, alive = psutil.wait_procs(children, timeout=30)
        assert alive == []
        # The worker's token was for that run only.
        assert (
            project.python(
                "from api.models import ApiToken; print(ApiToken.objects.filter(user__username='worker').count())"
            ).strip()
            == "0"
        )
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
