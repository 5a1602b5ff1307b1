"""The containers' set-up without containers: two daphne processes behind nginx with
docker/nginx.conf, PostgreSQL and Redis, used through the load balancer."""

import asyncio
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import websockets

from tests.conftest import free_port
from tests.e2e.client import GraphQLWebSocket
from tests.e2e.conftest import STARTUP_TIMEOUT_SECONDS, graphql_post, require_service

NGINX_CONF = Path(__file__).resolve().parents[2] / "docker" / "nginx.conf"
UPDATE_STATUS = """
mutation ($input: UpdateSubmissionStatusInput!) { updateSubmissionStatus(input: $input) { version } }
"""


class LoadBalancer:
    def __init__(self, folder: Path, backends: list[int]):
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(nginx).exists():
            require_service("nginx", FileNotFoundError(nginx))
        self.port = free_port()
        conf = NGINX_CONF.read_text()
        upstreams = "".join(f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;\n" for port in backends)
        conf = re.sub(r"(        server web\d:8000[^\n]*\n)+", upstreams, conf)
        conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{self.port};")
        conf = conf.replace("pid /tmp/nginx.pid;", f"pid {folder / 'nginx.pid'};")
        # An unprivileged nginx keeps its temporary files in the test's folder.
        temp_paths = ""
        for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (folder / temp).mkdir(exist_ok=True)
            temp_paths += f"    {temp}_temp_path {folder / temp};\n"
        conf = conf.replace("http {\n", "http {\n" + temp_paths, 1)
        (folder / "nginx.conf").write_text(conf)
        self.process = subprocess.Popen(
            [nginx, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-g", "daemon off;"],
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/nginx-health", timeout=1)
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"nginx did not start: {self.process.stderr.read()}") from None
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.mark.parametrize("cluster", ["core"], indirect=True)
async def test_through_the_load_balancer_subscriptions_follow_changes_and_survive_a_stopped_process(cluster, tmp_path):
    token = cluster.manage("create_api_token", "pipeline", "--create-user", "--service").strip()
    first, second = cluster.start_server(), cluster.start_server()
    balancer = LoadBalancer(tmp_path, [first.port, second.port])
    graphql_url = f"{balancer.url}/graphql/"
    try:
        with urllib.request.urlopen(f"{balancer.url}/readyz", timeout=5) as response:
            assert response.status == 200

        pk = graphql_post(graphql_url, 'mutation { createSubmission(input: {title: "Herd"}) { id } }', token=token)[
            "data"
        ]["createSubmission"]["id"]

        clients = []
        for _ in range(4):  # spread over both processes by the balancer
            client = GraphQLWebSocket(f"ws://127.0.0.1:{balancer.port}/graphql/")
            assert (await client.connect({"authorization": f"Bearer {token}"}))["type"] == "connection_ack"
            await client.subscribe("1", {"id": pk})
            assert (await client.next_event("1"))["version"] == 1
            clients.append(client)

        variables = {"input": {"id": pk, "status": "LOADED", "message": "through nginx"}}
        assert (await asyncio.to_thread(graphql_post, graphql_url, UPDATE_STATUS, variables, token=token))["data"]
        for client in clients:
            assert (await client.next_event("1"))["message"] == "through nginx"

        # One process stops: its clients are closed cleanly and come back through
        # the balancer to the other, starting from a snapshot.
        second.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(second.process.wait, 15) == 0
        variables = {"input": {"id": pk, "status": "LOADED", "message": "after the stop"}}
        assert (await asyncio.to_thread(graphql_post, graphql_url, UPDATE_STATUS, variables, token=token))["data"]
        closed = []
        for client in clients:
            try:
                assert (await client.next_event("1"))["message"] == "after the stop"
            except websockets.ConnectionClosed as error:
                assert error.rcvd is not None and error.rcvd.code == 1000, "closed cleanly: clients reconnect at once"
                closed.append(client)
        assert 0 < len(closed) < len(clients), "the balancer had spread the clients over both processes"

        reconnected = GraphQLWebSocket(f"ws://127.0.0.1:{balancer.port}/graphql/")
        await reconnected.connect({"authorization": f"Bearer {token}"})
        await reconnected.subscribe("1", {"id": pk})
        snapshot = await reconnected.next_event("1")
        assert (snapshot["version"], snapshot["message"]) == (3, "after the stop")
        await reconnected.close()
    finally:
        balancer.stop()


def test_the_load_balancer_does_not_expose_metrics(project, tmp_path):
    server = project.start_server()
    balancer = LoadBalancer(tmp_path, [server.port])
    try:
        for path in ("/metrics", "/metrics?format=text", "//metrics", "/%6Detrics"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(f"{balancer.url}{path}", timeout=5)
            assert refused.value.code == 404, path
        # Were it proxied anyway (a proxy without that rule), the process asks for the token.
        proxied = urllib.request.Request(
            f"http://127.0.0.1:{server.port}/metrics", headers={"X-Forwarded-For": "203.0.113.5"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(proxied, timeout=5)
        assert refused.value.code == 403
        # The machine itself still reads them, straight from the process.
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as response:
            assert response.status == 200
    finally:
        balancer.stop()
