"""The containers' set-up without containers: the web processes behind nginx with
docker/nginx.conf, PostgreSQL and Redis, used through the load balancer; with the
Compose file's own environment and health checks, and by a browser."""

import asyncio
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import websockets
from playwright.sync_api import expect

from tests.conftest import free_port
from tests.docker.files import NGINX_CONF, healthchecks, read_env_file, web_environment
from tests.e2e.browser import CHROMIUM_ARGS, new_page
from tests.e2e.client import GraphQLWebSocket
from tests.e2e.conftest import STARTUP_TIMEOUT_SECONDS, Project, graphql_post, require_service

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
        try:
            self._wait_until_listening()
        except BaseException:
            self.stop()
            raise

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                pass
            try:
                self.process.wait(timeout=0.05)  # returns at once if nginx exits
            except subprocess.TimeoutExpired:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"nginx did not listen in {STARTUP_TIMEOUT_SECONDS} s") from None
                continue
            raise RuntimeError(f"nginx did not start: {self.process.stderr.read()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process.stderr.close()


@pytest.mark.parametrize("cluster", ["core"], indirect=True)
async def test_through_the_load_balancer_subscriptions_follow_changes_and_survive_a_stopped_process(cluster, tmp_path):
    token = cluster.manage("create_api_token", "pipeline", "--create-user", "--service").strip()
    first, second = cluster.start_server(), cluster.start_server()
    balancer = LoadBalancer(tmp_path, [first.port, second.port])
    graphql_url = f"{balancer.url}/graphql/"
    try:
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


def test_the_load_balancer_does_not_expose_health_or_metrics(project, tmp_path):
    server = project.start_server()
    balancer = LoadBalancer(tmp_path, [server.port])
    try:
        for path in (
            *("/readyz", "/readyz?full=1", "//readyz", "/%72eadyz"),
            *("/healthz", "/metrics", "/metrics?format=text", "//metrics", "/%6Detrics"),
        ):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(f"{balancer.url}{path}", timeout=5)
            assert refused.value.code == 404, path
        # The process answers them to the health checks, which call it directly.
        for path in ("/readyz", "/healthz"):
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5) as response:
                assert response.status == 200, path
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


# The site's name, as a real deployment's ALLOWED_HOSTS has it; Chromium resolves it to this machine.
SITE = "status.example.org"


@pytest.fixture
def database_url(request, tmp_path):
    """PostgreSQL, as Compose runs it; SQLite where there is no PostgreSQL (outside CI only)."""
    try:
        return request.getfixturevalue("postgres_url")
    except pytest.skip.Exception:
        return f"sqlite:///{tmp_path / 'db.sqlite3'}"


@pytest.fixture
def compose_like(tmp_path, database_url, redis_server):
    """The web processes' set-up as docker/compose.yaml makes it, without containers.

    docker/.env is made from docker/.env.example as the Compose file's header says
    (a SECRET_KEY, the site's name in ALLOWED_HOSTS); then the environment is what
    Compose gives the web services: the image's ENV, that file, their `environment`.
    Only what the Compose network decides is replaced: how the processes reach the
    database and Redis, and where the load balancer connects from.
    """
    dot_env = {**read_env_file(), "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": SITE}
    network = {"DATABASE_URL": database_url, "REDIS_URL": redis_server.url, "TRUSTED_PROXIES": "127.0.0.1/32"}
    project = Project(env={**os.environ, **web_environment(dot_env), **network}, folder=tmp_path, redis=redis_server)
    project.manage("migrate", "--noinput")  # the migrate service
    yield project
    for server in project.servers:
        server.stop()


@pytest.fixture
def chromium_args():
    """Chromium takes SITE for this machine."""
    return [*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {SITE} 127.0.0.1"]


def test_a_browser_signs_in_through_the_load_balancer_on_any_port_and_follows_a_submission_live(
    compose_like, chromium, tmp_path
):
    compose_like.manage("demo")
    web = [compose_like.start_server(server="uvicorn") for _ in range(2)]  # the image's server
    balancer = LoadBalancer(tmp_path, [server.port for server in web])
    site = f"http://{SITE}:{balancer.port}"  # no CSRF_TRUSTED_ORIGINS, no WEBSOCKET_ALLOWED_ORIGINS
    try:
        problems = []
        page = new_page(chromium, problems)
        page.goto(f"{site}/accounts/login/")
        page.fill("#id_username", "demo")
        page.fill("#id_password", "demo")
        page.click("button[type=submit]")
        page.wait_for_url(f"{site}/")  # CSRF's origin check passed

        page.click("a[href^='/submissions/']")
        page.wait_for_selector(".connection-live")  # the WebSocket's origin check passed
        submission_id = re.search(r"/submissions/(\d+)/$", page.url).group(1)

        compose_like.manage("set_submission_status", submission_id, "READY", "--message", "Checked", "--force")
        expect(page.locator("#status")).to_have_text("Ready")
        expect(page.locator("#message-text")).to_have_text("Checked")
        # Over plain HTTP on a name other than localhost, Chromium ignores Django's
        # Cross-Origin-Opener-Policy, and says so: that is all it may report.
        assert [problem for problem in problems if "Cross-Origin-Opener-Policy" not in problem] == []
    finally:
        balancer.stop()


def run_healthcheck(test: list[str], *, ports: dict[int, int]) -> subprocess.CompletedProcess:
    """A Compose health check (CMD form) run beside the processes: `python` is the project's,
    and the ports the containers have (8000, 8080) are the ones the processes got."""
    kind, program, *arguments = test
    assert kind == "CMD"
    arguments = [re.sub(r"127\.0\.0\.1:(\d+)", lambda port: f"127.0.0.1:{ports[int(port[1])]}", a) for a in arguments]
    return subprocess.run(
        [sys.executable if program == "python" else program, *arguments], capture_output=True, text=True, timeout=30
    )


def test_every_health_check_of_the_compose_file_passes_whatever_allowed_hosts_is(compose_like, tmp_path):
    checks = healthchecks()
    # PostgreSQL's and Redis's are their images' own tools; the others are the project's.
    assert set(checks) == {"db", "redis", "web1", "web2", "lb", "image"}
    first, second = (compose_like.start_server(server="uvicorn") for _ in range(2))
    balancer = LoadBalancer(tmp_path, [first.port, second.port])
    try:
        for name, server in (("web1", first), ("web2", second)):
            for check in (checks[name], checks["image"]):
                result = run_healthcheck(check, ports={8000: server.port})
                assert result.returncode == 0, f"{name}: {result.stderr}"
            # They call the process by its address, which ALLOWED_HOSTS does not list.
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=5)
            assert refused.value.code == 400
        result = run_healthcheck(checks["lb"], ports={8080: balancer.port})
        assert result.returncode == 0, result.stderr

        # A stopped process fails its check (Compose restarts it); the others still pass.
        first.stop()
        assert run_healthcheck(checks["web1"], ports={8000: first.port}).returncode != 0
        assert run_healthcheck(checks["web2"], ports={8000: second.port}).returncode == 0
        assert run_healthcheck(checks["lb"], ports={8080: balancer.port}).returncode == 0
    finally:
        balancer.stop()
