"""The Node peer (bench/node_peer/): what a user would pick instead of us, measured in the same run.

graphql-yoga 5 for HTTP with its createPubSub, graphql-ws 6 `useServer` on
`ws` for WebSocket, better-sqlite3 in WAL mode (the README, "Performance").
Its packages are pinned by bench/node_peer/package-lock.json and installed
with `npm ci` on first use (and again when the lock file or Node changes);
it runs only where `node` and `npm` are on PATH. Each start gets a fresh
SQLite file and a service token of its own.
"""

import hashlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.servers import STARTUP_TIMEOUT_SECONDS, Server

PEER_DIR = Path(__file__).resolve().parent / "node_peer"
VARIANT = "node"
# How its results are labelled: it has no channel layer and no ASGI server.
LAYER = "in-process"
SERVER = "node"
# The peer's WebSocket endpoint (ws's `path` matches exactly); HTTP also takes /graphql/.
WS_PATH = "/graphql"
LISTENING = re.compile(r"Listening on http://[\d.]+:(\d+)")
# npm ci builds better-sqlite3 from source when no prebuilt binary can be fetched: about a minute here.
INSTALL_TIMEOUT_SECONDS = 600.0
# Written into node_modules after a successful `npm ci`: the lock file's hash and Node's version.
STAMP = PEER_DIR / "node_modules" / ".bench-installed"


class PeerUnavailable(Exception):
    """Node or npm is missing, the peer's packages could not be installed, or it did not start."""


def missing_tools() -> list[str]:
    """The programs the peer needs that are not on PATH."""
    return [tool for tool in ("node", "npm") if shutil.which(tool) is None]


def _install_key() -> str:
    """What an installed node_modules depends on: the lock file, and Node's ABI for the native module."""
    node_version = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    lock = hashlib.sha256((PEER_DIR / "package-lock.json").read_bytes()).hexdigest()
    return f"{lock} {node_version}"


def ensure_installed() -> None:
    """`npm ci` in bench/node_peer unless node_modules already matches the lock file and Node."""
    if missing := missing_tools():
        raise PeerUnavailable(f"{' and '.join(missing)} not on PATH")
    key = _install_key()
    if STAMP.exists() and STAMP.read_text() == key:
        return
    print("Installing the Node peer's packages (npm ci in bench/node_peer)...", file=sys.stderr, flush=True)
    try:
        result = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=PEER_DIR,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise PeerUnavailable(f"npm ci took longer than {INSTALL_TIMEOUT_SECONDS:.0f} s") from None
    if result.returncode != 0:
        raise PeerUnavailable(f"npm ci failed:\n{(result.stdout + result.stderr)[-3000:]}")
    STAMP.write_text(key)


@contextmanager
def running(folder: Path) -> Iterator[tuple[Server, str]]:
    """A fresh peer process on a free port with a fresh SQLite file in `folder`; yields (server, token)."""
    folder.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    env = {
        **os.environ,
        # graphql-js and yoga skip their development checks, as in a deployment.
        "NODE_ENV": "production",
        "NODE_PEER_DATABASE": str(folder / "peer.sqlite3"),
        "NODE_PEER_TOKEN": token,
        "HOST": "127.0.0.1",
        "PORT": "0",
    }
    log_path = folder / "node-peer.log"
    with log_path.open("w") as log:
        # node itself, not npm, so that the pid is the server's (its memory and CPU are read from it).
        process = subprocess.Popen(["node", "server.js"], cwd=PEER_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = Server(http_base="", pid=process.pid, process=process, log_path=log_path)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not (match := LISTENING.search(log_path.read_text(errors="replace"))):
            if process.poll() is not None or time.monotonic() > deadline:
                raise PeerUnavailable(f"it did not start:\n{server.log_tail()}")
            time.sleep(0.05)
        server.http_base = f"http://127.0.0.1:{match.group(1)}"
        yield server, token
    finally:
        server.stop()
