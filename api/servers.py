"""The ASGI servers the project runs under: uvicorn (the default), daphne and granian.

All serve the same application. Measured with `python -m bench` on the
2-core machine, one process, the embedded layer, medians of repeated runs
(`bench fanout --server all --variants ours,raw` and `bench idle
--connections 2000 --server all --variants ours,raw`):

| server | (a) deliveries/s | (a) p99 | (a) 1,000 set up | 2,000 idle set up | KiB/conn |
| --- | --- | --- | --- | --- | --- |
| daphne | ~10,500 | ~600 ms | ~2.9 s | ~5.7 s | ~30 |
| uvicorn | ~17,700-20,900 | ~360-400 ms | ~1.8-2.1 s | ~4.6 s | ~28 |
| granian | ~9,100 | ~4,600 ms | ~1.7 s | ~3.2 s | ~158 |

- uvicorn (with its websockets-sansio protocol) on uvloop and httptools
  measured no faster than on asyncio and h11: deliveries/s and p99 within
  the noise, set-up 5-20 % slower in every batch, 0.6 KiB less per
  connection. The figures above hold for both.
- granian (a Rust server, with uvloop) sets up connections fastest, but in
  (a) its deliveries lag seconds behind (p99 ~4.6 s, against ~0.5 s for
  its own raw broadcast), each connection costs ~158 KiB, and it loses a
  close that the application sends while another task awaits receive():
  no close frame reaches the client (a stalled client's 4013, the
  connection_init timeout's 4408; tests/e2e/test_hostile_sockets.py). On
  SIGTERM it drops open WebSockets (1006). Its work happens in a worker
  process: read memory and CPU from the process and its children.
- uvicorn is the default (`make run`, the image): it measured fastest, and
  through api.uvicorn_server it drains on SIGTERM as daphne does (close
  1000, /readyz 503; api.shutdown).

    python -m api.servers uvicorn --host 127.0.0.1 --port 8000
"""

import argparse
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
SERVERS = ("daphne", "uvicorn", "granian")
# The product's application; the benchmark serves its own (bench.asgi), which adds its baselines.
APPLICATION = "api.asgi:application"
# What each server logs once it listens, with the port it took. Granian's
# supervisor says where it listens before its worker has loaded the
# application: wait for the worker too.
LISTENING = {
    "daphne": re.compile(r"Listening on TCP address [\d.]+:(\d+)"),
    "uvicorn": re.compile(r"Uvicorn running on http://[\d.]+:(\d+)"),
    "granian": re.compile(r"Listening at: http://[\d.]+:(\d+)(?s:.*)Started worker-1\b"),
}
# Connections the kernel queues before the server accepts them (it caps this
# at net.core.somaxconn): a burst of clients connecting at once is not refused.
LISTEN_BACKLOG = 4096
# Whether the server's `send` waits while the client is not reading (the
# socket's send buffer is full). uvicorn's does, and api.uvicorn_server says
# so; daphne's returns at once, whatever the client reads, and granian's is
# not known to wait. Where it does not, what a streamed response may be sent
# ahead of the client is bounded by a budget (live.http).
send_waits_for_client = False


def wrapper_arguments(prog: str, argv: list[str] | None) -> argparse.Namespace:
    """The command line of api.uvicorn_server and api.granian_server: --host, --port, --backlog, the application."""
    parser = argparse.ArgumentParser(prog=prog, description="Serve an ASGI application.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--backlog", type=int, default=LISTEN_BACKLOG)
    parser.add_argument("application", help="module:attribute")
    return parser.parse_args(argv)


def command(server: str, *, host: str = "127.0.0.1", port: int = 0, application: str = APPLICATION) -> list[str]:
    """The command that serves `application` (module:attribute) with `server` on host:port (port 0: a free one)."""
    if server == "daphne":
        # api.daphne_server listens with LISTEN_BACKLOG itself.
        return [sys.executable, "-m", "api.daphne_server", "-b", host, "-p", str(port), application]
    if server == "uvicorn":
        # api.uvicorn_server: uvloop and httptools, LISTEN_BACKLOG, and a graceful stop.
        return [sys.executable, "-m", "api.uvicorn_server", "--host", host, "--port", str(port), application]
    if server == "granian":
        # api.granian_server: uvloop, LISTEN_BACKLOG, and the project's LOGGING. Granian's workers each
        # bind the port themselves, so port 0 would leave every one on a different port, none of them logged.
        port = port or _free_port(host)
        return [sys.executable, "-m", "api.granian_server", "--host", host, "--port", str(port), application]
    raise ValueError(f"unknown server {server!r}: choose one of {', '.join(SERVERS)}")


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def start(
    server: str,
    *,
    env: dict,
    log_path: Path,
    port: int = 0,
    timeout_s: float = 30.0,
    application: str = APPLICATION,
):
    """Start `server` serving `application` on 127.0.0.1 (port 0: a free one), logging to `log_path`.

    Returns (process, port) once it listens; for the benchmark and the tests.
    """
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command(server, port=port, application=application),
            cwd=PROJECT_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + timeout_s
    while not (match := LISTENING[server].search(log_path.read_text(errors="replace"))):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise RuntimeError(f"{server} did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
        time.sleep(0.05)
    return process, int(match.group(1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m api.servers", description="Serve the project.")
    parser.add_argument("server", choices=SERVERS)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--application", default=APPLICATION, help=f"module:attribute (default {APPLICATION})")
    args = parser.parse_args(argv)
    serve = command(args.server, host=args.host, port=args.port, application=args.application)
    os.execv(serve[0], serve)


if __name__ == "__main__":
    main()
