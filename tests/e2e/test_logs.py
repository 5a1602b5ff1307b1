"""In production (DEBUG=false) every line a server writes is one JSON object, and a normal request logs no warning."""

import asyncio
import json
import re
import urllib.request

import pytest

from api.servers import SERVERS
from tests.e2e.client import GraphQLWebSocket

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "a-production-secret-key-long-and-random-enough-for-django-0123456789",
    "ALLOWED_HOSTS": "127.0.0.1",
}
CREATE = 'mutation { createSubmission(input: {title: "Herd"}) { id } }'


def anonymous_post(url: str, query: str) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps({"query": query}).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read())


async def a_day_of_traffic(server, token: str) -> None:
    """A query from a service and from an anonymous caller, a subscription in each protocol, clients closing."""
    pk = (await asyncio.to_thread(server.execute, CREATE, token=token))["data"]["createSubmission"]["id"]
    assert (await asyncio.to_thread(anonymous_post, server.http_url, "{ viewer { username } }")) == {
        "data": {"viewer": None}
    }
    for protocol in ("graphql-transport-ws", "graphql-ws"):
        client = GraphQLWebSocket(server.ws_url, protocol)
        try:
            assert (await client.connect({"authorization": f"Bearer {token}"}))["type"] == "connection_ack"
            await client.subscribe("1", {"id": pk})
            assert (await client.next_event("1"))["version"] == 1
            if client.legacy:
                # As subscriptions-transport-ws clients leave: the server closes while the client does.
                await client.send({"type": "connection_terminate"})
        finally:
            await client.close()


@pytest.mark.parametrize("server_name", SERVERS)
async def test_every_line_is_json_access_lines_included_and_normal_requests_warn_of_nothing(project, server_name):
    project.env.update(PRODUCTION)
    token = project.manage("create_api_token", "pipeline", "--create-user", "--service").strip()
    server = project.start_server(server=server_name)
    await a_day_of_traffic(server, token)
    server.stop()

    lines = (project.folder / f"{server_name}-0.log").read_text().splitlines()
    entries = []
    # Granian may end its output with a blank line on SIGTERM: no entry, nothing for a collector to parse.
    for line in filter(str.strip, lines):
        try:
            entries.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not JSON: {line!r}")
    access = [entry for entry in entries if entry["logger"].endswith(".access")]
    assert any("POST /graphql/" in entry["message"] for entry in access), entries
    # Each server words a WebSocket's line its own way (uvicorn logs it on uvicorn.error, at INFO).
    assert any(
        re.search(r'(WebSocket|WSCONNECT) /graphql/|/graphql/ HTTP/1.1" 101', entry["message"]) for entry in entries
    ), entries
    assert [entry for entry in entries if entry["level"] not in ("DEBUG", "INFO")] == []
