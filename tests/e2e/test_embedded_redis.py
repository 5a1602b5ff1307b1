"""The embedded Redis lives as long as the process that started it, and a server that finds it gone starts it again."""

import asyncio
import signal
import subprocess
import sys

import psutil
import redis

from tests.e2e.client import GraphQLWebSocket
from tests.e2e.conftest import PROJECT_DIR
from tests.e2e.test_make_run import processes_using

CREATE = 'mutation { createSubmission(input: {title: "Herd"}) { id } }'
UPDATE_STATUS = """
mutation ($input: UpdateSubmissionStatusInput!) { updateSubmissionStatus(input: $input) { version } }
"""
OWNER = """
import sys
from api.embedded_redis import ensure_server
ensure_server(sys.argv[1])
print("serving", flush=True)
sys.stdin.read()
"""
# Starts the server, has it stopped, waits for its watchdog to exit (a pidfd is readable
# then; it does not reap), starts it again; prints whether the first watchdog is left a zombie.
RESTARTS = """
import os, select, sys
import psutil
from api.embedded_redis import _watchdogs, ensure_server, stop_server
ensure_server(sys.argv[1])
(first,) = _watchdogs
stop_server(sys.argv[1])
assert select.select([os.pidfd_open(first.pid)], [], [], 30)[0], "the watchdog outlived its server"
ensure_server(sys.argv[1])
try:
    print(psutil.Process(first.pid).status(), flush=True)
except psutil.NoSuchProcess:
    print("reaped", flush=True)
"""
STOP_SECONDS = 30
RESTART_SECONDS = 30


def start_owner(socket_path) -> subprocess.Popen:
    """A process that starts the embedded Redis on `socket_path`, and so owns it; returned once it serves."""
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(socket_path)],
        cwd=PROJECT_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout.readline() == "serving\n"
    except BaseException:
        owner.kill()
        owner.wait()
        raise
    return owner


def test_the_embedded_redis_dies_with_the_process_that_started_it_even_when_it_is_killed(tmp_path):
    socket_path = tmp_path / "redis.sock"
    owner = start_owner(socket_path)
    try:
        assert redis.Redis(unix_socket_path=str(socket_path)).ping()
        started = processes_using(socket_path)
        assert started
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    gone, alive = psutil.wait_procs(started, timeout=STOP_SECONDS)
    assert alive == []


def kill_leftovers(socket_path) -> None:
    """What a failed test would leave running on `socket_path`."""
    leftovers = processes_using(socket_path)
    for process in leftovers:
        process.kill()
    psutil.wait_procs(leftovers, timeout=STOP_SECONDS)


def test_the_embedded_redis_dies_with_its_watchdog_even_when_the_watchdog_is_killed(tmp_path):
    socket_path = tmp_path / "redis.sock"
    owner = start_owner(socket_path)
    try:
        (watchdog,) = [p for p in processes_using(socket_path) if "api.embedded_redis" in p.cmdline()]
        (server,) = [p for p in processes_using(socket_path) if "redis-server" in p.name()]

        watchdog.kill()
        gone, alive = psutil.wait_procs([server], timeout=STOP_SECONDS)

        assert alive == []
        assert owner.poll() is None, "its owner goes on"
    finally:
        owner.kill()
        owner.wait()
        kill_leftovers(socket_path)


def test_a_process_that_starts_the_embedded_redis_again_leaves_no_zombie_watchdog(tmp_path):
    socket_path = tmp_path / "redis.sock"
    try:
        result = subprocess.run(
            [sys.executable, "-c", RESTARTS, str(socket_path)],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=STOP_SECONDS * 2,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "reaped"
    finally:
        kill_leftovers(socket_path)


async def test_a_server_starts_the_embedded_redis_again_when_it_is_gone_and_subscribers_go_on(project):
    socket_path = project.env["EMBEDDED_REDIS_SOCKET"]
    server = project.start_server(server="uvicorn")
    token = project.manage("create_api_token", "pipeline", "--create-user", "--service").strip()
    pk = (await asyncio.to_thread(server.execute, CREATE, token=token))["data"]["createSubmission"]["id"]
    client = GraphQLWebSocket(server.ws_url)
    try:
        assert (await client.connect({"authorization": f"Bearer {token}"}))["type"] == "connection_ack"
        await client.subscribe("1", {"id": pk})
        assert (await client.next_event("1"))["version"] == 1

        # Someone deletes it: the process goes, and its socket with it.
        embedded = [p for p in processes_using(socket_path) if "redis-server" in p.name()]
        for process in embedded:
            process.kill()
        psutil.wait_procs(embedded, timeout=STOP_SECONDS)
        project.folder.joinpath("redis.sock").unlink(missing_ok=True)

        # A change made meanwhile commits; the server's listener notices within a heartbeat that
        # Redis is gone and starts it again, as its owner, and the subscriber gets the change.
        variables = {"input": {"id": pk, "status": "LOADED", "message": "Imported"}}
        assert (await asyncio.to_thread(server.execute, UPDATE_STATUS, variables, token=token)) == {
            "data": {"updateSubmissionStatus": {"version": 2}}
        }
        event = await asyncio.wait_for(client.next_event("1"), RESTART_SECONDS)
        assert (event["version"], event["status"]) == (2, "LOADED")
        (watchdog,) = [p for p in processes_using(socket_path) if p.name().startswith("python")]
        assert watchdog.cmdline()[3] == str(server.process.pid)
        await asyncio.to_thread(project.manage, "set_submission_status", pk, "ERROR", "--message", "Bad file")
        event = await client.next_event("1")
        assert (event["version"], event["status"], event["message"]) == (3, "ERROR", "Bad file")
    finally:
        await client.close()
