"""Hostile sockets against a real server process: floods, stalls, silence and revoked access cost it little."""

import asyncio
import json

import psutil
import pytest
import websockets

from api.servers import SERVERS
from tests.e2e.client import GraphQLWebSocket
from tests.e2e.test_operations import get, metric

CREATE = 'mutation { createSubmission(input: {title: "Herd"}) { id } }'
UPDATE_STATUS = """
mutation ($input: UpdateSubmissionStatusInput!) { updateSubmissionStatus(input: $input) { version } }
"""
FLOOD_BYTES = 150 * 1024 * 1024
MEMORY_LIMIT_BYTES = 64 * 1024 * 1024
FRAME = json.dumps({"type": "ping", "payload": {"pad": "x" * 60_000}})
CLOSED = (websockets.ConnectionClosed, ConnectionError)
# granian 2.8.7 loses a close that the application sends while another task
# awaits receive(): that receive() returns websocket.disconnect, but no close
# frame reaches the client and the connection stays open. So closes sent
# from a timer or another task (a stalled client, a spent send budget, the
# connection_init timeout) never arrive; those sent while a frame is being
# handled do. Strict: this fails once granian delivers them.
GRANIAN_LOSES_CLOSES_FROM_OTHER_TASKS = pytest.mark.xfail(
    reason="granian 2.8.7 drops a websocket.close sent while receive() is awaited", strict=True
)
CLOSED_FROM_ANOTHER_TASK = [
    pytest.param(name, marks=GRANIAN_LOSES_CLOSES_FROM_OTHER_TASKS) if name == "granian" else name for name in SERVERS
]


def rss(server) -> int:
    """Resident memory of the server process and its children (granian serves from a worker process)."""
    process = psutil.Process(server.process.pid)
    return sum(each.memory_info().rss for each in [process, *process.children(recursive=True)])


async def flood(socket, *, bytes_total: int, frame: str = FRAME) -> int:
    """Send frames (reading nothing) until `bytes_total` went out or the server closed; returns the bytes sent."""
    sent = 0
    try:
        while sent < bytes_total:
            # A server that reads nothing more would make this wait for ever.
            await asyncio.wait_for(socket.send(frame), 10)
            sent += len(frame)
    except CLOSED:
        pass
    return sent


async def close_code(socket, timeout: float = 30) -> int:
    """The code the server closed `socket` with, reading (and dropping) whatever came before it."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await socket.recv()
    except websockets.ConnectionClosed:
        pass
    return socket.close_code


def closed_by_server(server, reason: str) -> float:
    """How many sockets the server says it closed for `reason` (its /metrics, asked from this machine)."""
    _status, text = get(f"http://127.0.0.1:{server.port}/metrics")
    return metric(text, f'websocket_connections_closed_by_server_total{{reason="{reason}"}}')


def service_token(project) -> str:
    return project.manage("create_api_token", "pipeline", "--create-user", "--service").strip()


@pytest.mark.parametrize("server_name", SERVERS)
@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_a_flood_after_a_malformed_first_message_is_closed_at_once_and_costs_little_memory(
    project, server_name, protocol
):
    server = project.start_server(server=server_name)
    before = rss(server)
    async with websockets.connect(server.ws_url, subprotocols=[protocol], max_size=None) as socket:
        await socket.send("[1]")
        sent = await flood(socket, bytes_total=FLOOD_BYTES)
        # A client still sending when the close frame comes may see the connection reset instead.
        assert await close_code(socket) in (4400, 1006)
    assert closed_by_server(server, "malformed") == 1
    assert sent < FLOOD_BYTES, "the server closed the socket before the flood was through"
    assert rss(server) - before < MEMORY_LIMIT_BYTES


@pytest.mark.parametrize("server_name", SERVERS)
@pytest.mark.parametrize(
    ("frame", "code", "reason"),
    [(json.dumps({"type": "ping"}), 4013, "too_slow"), (FRAME, 4429, "flood")],
    ids=["pings-never-reading-the-pongs", "large-frames"],
)
async def test_a_flooding_client_is_closed_and_costs_little_memory(project, server_name, frame, code, reason):
    server = project.start_server(server=server_name)
    token = service_token(project)
    client = GraphQLWebSocket(server.ws_url)
    await client.connect({"authorization": f"Bearer {token}"})
    before = rss(server)
    try:
        await flood(client.socket, bytes_total=FLOOD_BYTES, frame=frame)
        # A client that reads nothing may not see the close frame, and only learn of a reset.
        assert await close_code(client.socket) in (code, 1006)
    finally:
        await client.close()
    assert closed_by_server(server, reason) == 1
    assert rss(server) - before < MEMORY_LIMIT_BYTES


@pytest.mark.parametrize("server_name", CLOSED_FROM_ANOTHER_TASK)
async def test_a_client_that_stops_answering_pings_is_closed_and_resumes_from_a_snapshot(project, server_name):
    project.env["WEBSOCKET_STALL_GRACE_SECONDS"] = "1"
    server = project.start_server(server=server_name)
    token = service_token(project)
    pk = server.execute(CREATE, token=token)["data"]["createSubmission"]["id"]
    client = GraphQLWebSocket(server.ws_url)
    try:
        await client.connect({"authorization": f"Bearer {token}"})
        await client.subscribe("1", {"id": pk})
        assert (await client.next_event("1"))["version"] == 1
        # From here the client answers no ping: two windows of results, then silence, then the close.
        changes = 200
        for n in range(changes):
            variables = {"input": {"id": pk, "status": "LOADED", "message": f"change {n}"}}
            await asyncio.to_thread(server.execute, UPDATE_STATUS, variables, token=token)
        assert await close_code(client.socket) == 4013
        assert "reconnect" in client.socket.close_reason or server_name == "daphne"  # daphne sends no reason

        await client.connect({"authorization": f"Bearer {token}"})
        await client.subscribe("1", {"id": pk})
        snapshot = await client.next_event("1")
        assert snapshot["version"] == changes + 1 and snapshot["validationSummary"] is not None
    finally:
        await client.close()


@pytest.mark.parametrize("server_name", CLOSED_FROM_ANOTHER_TASK)
async def test_a_legacy_client_that_never_reads_is_closed_past_its_send_budget(project, server_name):
    project.env.update(WEBSOCKET_LEGACY_SEND_BUFFER_BYTES="65536", WEBSOCKET_LEGACY_SEND_BYTES_PER_SECOND="1024")
    server = project.start_server(server=server_name)
    token = service_token(project)
    pk = server.execute(CREATE, token=token)["data"]["createSubmission"]["id"]
    client = GraphQLWebSocket(server.ws_url, "graphql-ws")
    try:
        await client.connect({"authorization": f"Bearer {token}"})
        for n in range(100):
            await client.subscribe(str(n), {"id": pk})
        for n in range(10):
            variables = {"input": {"id": pk, "status": "LOADED", "message": f"change {n}"}}
            await asyncio.to_thread(server.execute, UPDATE_STATUS, variables, token=token)
        assert await close_code(client.socket) == 4013
    finally:
        await client.close()


async def test_a_deactivated_users_open_subscription_ends_within_75_seconds(project):
    server = project.start_server()
    project.python(
        "from django.contrib.auth import get_user_model\n"
        "get_user_model().objects.create_user(username='olivia', password='secret')"
    )
    token = project.manage("create_api_token", "olivia").strip()
    pk = server.execute(CREATE, token=token)["data"]["createSubmission"]["id"]
    client = GraphQLWebSocket(server.ws_url)
    try:
        await client.connect({"authorization": f"Bearer {token}"})
        await client.subscribe("1", {"id": pk})
        assert (await client.next_event("1"))["version"] == 1

        await asyncio.to_thread(
            project.python,
            "from django.contrib.auth import get_user_model\n"
            "get_user_model().objects.filter(username='olivia').update(is_active=False)",
        )
        assert await close_code(client.socket, timeout=75) == 4403
    finally:
        await client.close()


async def test_connection_attempts_past_the_limit_per_address_are_refused_before_the_handshake(project):
    project.env.update(WEBSOCKET_MAX_ATTEMPTS_PER_ADDRESS="3", WEBSOCKET_ATTEMPTS_WINDOW_SECONDS="600")
    server = project.start_server()
    for _ in range(3):
        async with websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"]):
            pass
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"])
    assert refused.value.response.status_code == 403
