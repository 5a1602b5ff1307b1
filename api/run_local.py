"""`make run`: the server and the reference worker side by side, one command, stopped together.

    python -m api.run_local uvicorn --host 127.0.0.1 --port 8000

The worker runs as `manage.py run_worker --service-user worker`: a service
token made for this run and deleted when it stops, so no secret is written
anywhere. Ctrl-C (or SIGTERM) stops both; if either stops, so does the other;
and on Linux neither outlives this process, even if it is killed.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
from functools import partial

from django.conf import settings

from api.children import stop_with_parent
from api.embedded_redis import ensure_configured_server
from api.servers import PROJECT_DIR, SERVERS, command

WORKER_USERNAME = "worker"
STOP_TIMEOUT_SECONDS = 15
ANNOUNCEMENT = """
Serving on {url} : sign in as demo / demo.{graphiql}
Ctrl-C stops the server, its worker and its embedded Redis. Another port or server:
make run PORT=8080 SERVER=daphne
"""
# A server bound to every address is reached from this machine on loopback.
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def local_url(host: str, port: int) -> str:
    """The URL that reaches, from this machine, a server listening on host:port."""
    address = _WILDCARDS.get(host, host)
    return f"http://{f'[{address}]' if ':' in address else address}:{port}/"


def announcement(host: str, port: int, *, graphiql: bool) -> str:
    """What `make run` prints once the server listens."""
    return ANNOUNCEMENT.format(url=local_url(host, port), graphiql=" GraphiQL is at /graphql/." if graphiql else "")


def _listening(host: str, port: int) -> bool:
    try:
        socket.create_connection((_WILDCARDS.get(host, host), port), timeout=1).close()
    except OSError:
        return False
    return True


def _stop(children: list[subprocess.Popen]) -> int:
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return max(abs(child.returncode or 0) for child in children)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api.run_local", description="Serve the project with its worker.")
    parser.add_argument("server", choices=SERVERS)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    graphql_url = f"{local_url(args.host, args.port)}graphql/"
    worker = [sys.executable, "manage.py", "run_worker", "--url", graphql_url, "--service-user", WORKER_USERNAME]
    children = []

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        # Started here, the embedded Redis lives as long as this process: it outlasts the server's drain.
        ensure_configured_server()  # which also points Django at api.settings
        for argv_ in (command(args.server, host=args.host, port=args.port), worker):
            children.append(subprocess.Popen(argv_, cwd=PROJECT_DIR, preexec_fn=partial(stop_with_parent, os.getpid())))
        announced = False
        # Whichever stops first (a crash, a port in use), the other follows.
        while all(child.poll() is None for child in children):
            if not announced and (announced := _listening(args.host, args.port)):
                print(announcement(args.host, args.port, graphiql=settings.GRAPHIQL), flush=True)
            try:
                children[0].wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
    except KeyboardInterrupt:
        pass
    return _stop(children)


if __name__ == "__main__":
    sys.exit(main())
