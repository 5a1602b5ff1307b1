"""`make run` serves with the worker beside the server, and nothing it starts outlives it."""

import signal
import subprocess
import sys

import psutil

from tests.conftest import free_port
from tests.e2e.conftest import PROJECT_DIR, graphql_post

STARTUP_SECONDS = 60


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
        lines = []
        for line in launcher.stdout:
            lines.append(line)
            if "Listening for work" in line:
                break
        else:
            raise AssertionError("".join(lines))
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
