"""Real processes: a daphne server on a free port, with its own database and channel layer."""

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from api.embedded_redis import stop_server

PROJECT_DIR = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_SECONDS = 30
LISTENING = re.compile(r"Listening on TCP address [\d.]+:(\d+)")


@dataclass
class Project:
    """The project run as a user runs it: manage.py commands and servers, in a private environment."""

    env: dict
    folder: Path
    servers: list = field(default_factory=list)

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=PROJECT_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def python(self, code: str) -> str:
        """Run `code` in a plain Python worker process with Django set up."""
        prelude = "import django; django.setup()\n"
        result = subprocess.run(
            [sys.executable, "-c", prelude + code],
            cwd=PROJECT_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def start_server(self) -> "Server":
        log_path = self.folder / f"daphne-{len(self.servers)}.log"
        log = log_path.open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", "0", "api.asgi:application"],
            cwd=PROJECT_DIR,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        server = Server(process=process, port=0, log=log)
        self.servers.append(server)
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not (match := LISTENING.search(log_path.read_text())):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"daphne did not start:\n{log_path.read_text()}")
            time.sleep(0.05)
        server.port = int(match.group(1))
        return server


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: object

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql/"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql/"

    def execute(self, query: str, variables: dict | None = None, *, token: str) -> dict:
        request = urllib.request.Request(
            self.http_url,
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture
def project(tmp_path):
    """A fresh database and embedded channel layer in a temporary folder."""
    socket_path = tmp_path / "redis.sock"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "api.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "EMBEDDED_REDIS_SOCKET": str(socket_path),
        "REDIS_URL": "",
    }
    project = Project(env=env, folder=tmp_path)
    project.manage("migrate", "--noinput")
    yield project
    for server in project.servers:
        server.stop()
    stop_server(socket_path)
