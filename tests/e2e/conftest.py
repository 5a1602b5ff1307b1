"""Real processes: servers on free ports (daphne, or uvicorn), with their own database and channel layer."""

import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import expect, sync_playwright

from api import servers
from api.embedded_redis import stop_server
from tests.conftest import RedisServer
from tests.e2e.browser import CHROMIUM_ARGS, TIMEOUT_MS, chromium_executable

PROJECT_DIR = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_SECONDS = 30


@dataclass
class Project:
    """The project run as a user runs it: manage.py commands and servers, in a private environment."""

    env: dict
    folder: Path
    redis: RedisServer | None = None
    servers: list = field(default_factory=list)

    def manage(self, *args: str) -> str:
        return self._run("manage.py", *args)

    def python(self, code: str) -> str:
        """Run `code` in a plain Python worker process with Django set up."""
        return self._run("-c", "import django; django.setup()\n" + code)

    def _run(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, *args], cwd=PROJECT_DIR, env=self.env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def start_server(self, port: int = 0, server: str = "daphne") -> "Server":
        log_path = self.folder / f"{server}-{len(self.servers)}.log"
        process, port = servers.start(
            server, env=self.env, log_path=log_path, port=port, timeout_s=STARTUP_TIMEOUT_SECONDS
        )
        started = Server(process=process, port=port)
        self.servers.append(started)
        return started


def graphql_post(url: str, query: str, variables: dict | None = None, *, token: str) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@dataclass
class Server:
    process: subprocess.Popen
    port: int

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql/"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql/"

    def execute(self, query: str, variables: dict | None = None, *, token: str) -> dict:
        return graphql_post(self.http_url, query, variables, token=token)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def require_service(name: str, error: Exception):
    """A missing service fails the run in CI, and skips the test elsewhere."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{name} is not available: {error}")
    pytest.skip(f"{name} is not available: {error}")


ADMIN_DATABASE_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def postgres_url():
    """A new PostgreSQL database for this test alone, dropped afterwards."""
    try:
        admin = psycopg.connect(ADMIN_DATABASE_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        require_service("PostgreSQL", error)
    name = f"submissions_e2e_{os.getpid()}_{time.monotonic_ns()}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield ADMIN_DATABASE_URL.rsplit("/", 1)[0] + f"/{name}"
        finally:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _project_env(**settings) -> dict:
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "api.settings", "DEBUG": "true", **settings}


@pytest.fixture
def project(tmp_path):
    """One machine's set-up: SQLite and the embedded channel layer, in a temporary folder."""
    socket_path = tmp_path / "redis.sock"
    env = _project_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        EMBEDDED_REDIS_SOCKET=str(socket_path),
        REDIS_URL="",
    )
    project = Project(env=env, folder=tmp_path)
    project.manage("migrate", "--noinput")
    yield project
    for server in project.servers:
        server.stop()
    stop_server(socket_path)


@pytest.fixture(params=["core", "pubsub"])
def cluster(request, tmp_path, postgres_url, redis_server):
    """Several processes' set-up: PostgreSQL and a Redis server, with each channels-redis layer."""
    env = _project_env(DATABASE_URL=postgres_url, REDIS_URL=redis_server.url, CHANNEL_LAYER=request.param)
    project = Project(env=env, folder=tmp_path, redis=redis_server)
    project.manage("migrate", "--noinput")
    yield project
    for server in project.servers:
        server.stop()


@pytest.fixture
def chromium_args() -> list[str]:
    """Chromium's command line; a test module overrides this fixture to add to it."""
    return CHROMIUM_ARGS


@pytest.fixture
def chromium(chromium_args):
    """Headless Chromium (Playwright's sync API); a missing browser fails in CI."""
    executable = chromium_executable()
    if not executable.exists():
        require_service("Chromium", FileNotFoundError(executable))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=chromium_args)
        expect.set_options(timeout=TIMEOUT_MS)
        yield browser
        browser.close()


@pytest.fixture
def demo(project):
    """The project with its demo data (user demo/demo)."""
    project.manage("demo")
    return project
