"""A real server process (daphne or uvicorn), real WebSocket clients in both protocols, changes from every publisher."""

import asyncio
import re
import signal
import urllib.request

import pytest
import websockets

from api.servers import SERVERS
from tests.e2e.client import GraphQLWebSocket

CREATE = 'mutation { createSubmission(input: {title: "Herd"}) { id version } }'
UPDATE_STATUS = """
mutation ($input: UpdateSubmissionStatusInput!) { updateSubmissionStatus(input: $input) { version } }
"""
WORKER = """
from submissions.helpers import send_message
from submissions.models import Submission
submission = Submission.objects.get(pk={pk})
submission.message = "Validation started"
submission.save()
send_message(submission)
"""


@pytest.mark.parametrize("server_name", SERVERS)
async def test_subscribers_in_both_protocols_see_changes_from_http_a_command_and_a_worker(project, server_name):
    server = project.start_server(server=server_name)
    token = project.manage("create_api_token", "pipeline", "--create-user", "--service").strip()
    created = (await asyncio.to_thread(server.execute, CREATE, token=token))["data"]["createSubmission"]
    pk = created["id"]

    clients = [GraphQLWebSocket(server.ws_url, protocol) for protocol in ("graphql-transport-ws", "graphql-ws")]
    try:
        for client in clients:
            assert (await client.connect({"authorization": f"Bearer {token}"}))["type"] == "connection_ack"
            await client.subscribe("1", {"id": pk})
            snapshot = await client.next_event("1")
            assert (snapshot["version"], snapshot["status"]) == (1, "WAITING")
            assert snapshot["validationSummary"] == {"animals": {"total": 0}}

        result = await asyncio.to_thread(
            server.execute, UPDATE_STATUS, {"input": {"id": pk, "status": "LOADED", "message": "Imported"}}, token=token
        )
        assert result == {"data": {"updateSubmissionStatus": {"version": 2}}}
        await asyncio.to_thread(project.manage, "set_submission_status", pk, "ERROR", "--message", "Bad file")
        await asyncio.to_thread(project.python, WORKER.format(pk=pk))

        for client in clients:
            events = [await client.next_event("1") for _ in range(3)]
            assert [(e["version"], e["status"], e["message"]) for e in events] == [
                (2, "LOADED", "Imported"),
                (3, "ERROR", "Bad file"),
                (4, "ERROR", "Validation started"),
            ]
    finally:
        for client in clients:
            await client.close()


@pytest.mark.parametrize("server_name", SERVERS)
@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_a_real_server_closes_a_connection_without_credentials_with_4403(project, protocol, server_name):
    server = project.start_server(server=server_name)
    client = GraphQLWebSocket(server.ws_url, protocol)
    try:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await client.connect({})
            await client.receive()
        assert closed.value.rcvd.code == 4403
    finally:
        await client.close()


def test_graphiql_is_served_with_all_its_scripts_from_the_server_itself(project):
    server = project.start_server()
    request = urllib.request.Request(server.http_url, headers={"Accept": "text/html"})
    with urllib.request.urlopen(request, timeout=10) as response:
        page = response.read().decode()
    # Scripts and stylesheets, not the page's links (to the app, to sign in).
    assets = re.findall(r'<(?:script[^>]*src|link[^>]*href)="(/[^"]+)"', page)
    assert len(assets) >= 8 and all(asset.startswith("/static/") for asset in assets), assets
    for asset in assets:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{asset}", timeout=10) as response:
            assert response.status == 200 and response.read(), asset


@pytest.mark.parametrize("server_name", ["daphne", "uvicorn"])
async def test_a_server_stopped_with_sigterm_drains_first_and_closes_its_sockets_with_1000(project, server_name):
    server = project.start_server(server=server_name)
    token = project.manage("create_api_token", "pipeline", "--create-user", "--service").strip()
    pk = (await asyncio.to_thread(server.execute, CREATE, token=token))["data"]["createSubmission"]["id"]
    client = GraphQLWebSocket(server.ws_url)
    try:
        await client.connect({"authorization": f"Bearer {token}"})
        await client.subscribe("1", {"id": pk})
        await client.next_event("1")

        server.process.terminate()
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await client.receive()
        # graphql-ws clients with subscriptions reconnect at once on 1000 (on 1001, 1006 or 1012 they wait).
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
        assert await asyncio.to_thread(server.process.wait, 15) in (0, -signal.SIGTERM)
    finally:
        await client.close()
