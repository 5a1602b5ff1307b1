"""The ASGI servers the project runs under: daphne (the default) and uvicorn.

Both serve the same application. Measured with `python -m bench` (README,
"Performance"), uvicorn with its websockets-sansio protocol writes frames
and accepts connections with less work per socket than daphne's Twisted
and autobahn, so one process delivers more events and holds more
connections. Daphne stays the default: on SIGTERM it closes WebSockets with
1001 and drains them (api.shutdown), where uvicorn closes them with 1012.

    python -m api.servers uvicorn --host 127.0.0.1 --port 8000
"""

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
SERVERS = ("daphne", "uvicorn")
APPLICATION = "api.asgi:application"
# What each server logs once it listens, with the port it took.
LISTENING = {
    "daphne": re.compile(r"Listening on TCP address [\d.]+:(\d+)"),
    "uvicorn": re.compile(r"Uvicorn running on http://[\d.]+:(\d+)"),
}


def command(server: str, *, host: str = "127.0.0.1", port: int = 0) -> list[str]:
    """The command that serves the project with `server` on host:port (port 0: a free one)."""
    if server == "daphne":
        return [sys.executable, "-m", "api.daphne_server", "-b", host, "-p", str(port), APPLICATION]
    if server == "uvicorn":
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "--host",
            host,
            "--port",
            str(port),
            "--ws",
            "websockets-sansio",
            APPLICATION,
        ]
    raise ValueError(f"unknown server {server!r}: choose one of {', '.join(SERVERS)}")


def start(server: str, *, env: dict, log_path: Path, port: int = 0, timeout_s: float = 30.0):
    """Start `server` on 127.0.0.1 (port 0: a free one), logging to `log_path`.

    Returns (process, port) once it listens; for the benchmark and the tests.
    """
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command(server, port=port), cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
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
    args = parser.parse_args(argv)
    serve = command(args.server, host=args.host, port=args.port)
    os.execv(serve[0], serve)


if __name__ == "__main__":
    main()
