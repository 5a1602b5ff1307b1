"""A real daphne process, real WebSocket clients in both protocols, changes from every kind of publisher."""

import asyncio
import re
import urllib.request

import pytest
import websockets

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


async def test_subscribers_in_both_protocols_see_changes_from_http_a_command_and_a_worker(project):
    server = project.start_server()
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


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_a_real_server_closes_a_connection_without_credentials_with_4403(project, protocol):
    server = project.start_server()
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
    assets = re.findall(r'(?:src|href)="(/[^"]+)"', page)
    assert len(assets) >= 8 and all(asset.startswith("/static/") for asset in assets)
    for asset in assets:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{asset}", timeout=10) as response:
            assert response.status == 200 and response.read(), asset
