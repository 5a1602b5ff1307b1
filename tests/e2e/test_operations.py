"""What an operator sees of a real process: readiness that follows Redis, and metrics that count."""

import asyncio
import json
import urllib.error
import urllib.request

import pytest
import websockets

from tests.e2e.client import GraphQLWebSocket


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.parametrize("cluster", ["core"], indirect=True)
def test_readyz_fails_while_redis_is_down_and_recovers_with_it(cluster):
    server = cluster.start_server()
    base = f"http://127.0.0.1:{server.port}"
    assert get(f"{base}/readyz")[0] == 200

    cluster.redis.stop()
    status, body = get(f"{base}/readyz")
    assert status == 503 and "channel_layer" in json.loads(body)["failed"]
    assert get(f"{base}/healthz")[0] == 200, "alive all the same"

    cluster.redis.start()
    assert get(f"{base}/readyz")[0] == 200


async def test_metrics_count_what_a_real_client_did(project):
    server = project.start_server()
    base = f"http://127.0.0.1:{server.port}"
    token = project.manage("create_api_token", "pipeline", "--create-user", "--service").strip()
    pk = server.execute('mutation { createSubmission(input: {title: "Herd"}) { id } }', token=token)["data"][
        "createSubmission"
    ]["id"]

    client = GraphQLWebSocket(server.ws_url)
    await client.connect({"authorization": f"Bearer {token}"})
    await client.subscribe("1", {"id": pk})
    await client.next_event("1")
    variables = {"input": {"id": pk, "status": "LOADED"}}
    await asyncio.to_thread(
        server.execute,
        "mutation ($input: UpdateSubmissionStatusInput!) { updateSubmissionStatus(input: $input) { version } }",
        variables,
        token=token,
    )
    await client.next_event("1")
    refused = GraphQLWebSocket(server.ws_url)
    with pytest.raises(websockets.ConnectionClosed):
        await refused.connect({"authorization": "Bearer wrong"})
        await refused.receive()
    await refused.close()

    status, text = await asyncio.to_thread(get, f"{base}/metrics")
    await client.close()
    assert status == 200
    assert metric(text, "websocket_connections_open") >= 1
    assert metric(text, "submission_subscriptions_active") == 1
    assert metric(text, "submission_events_delivered_total") == 1
    assert metric(text, 'submission_events_published_total{type="submission.status"}') == 1
    assert metric(text, 'websocket_connections_rejected_total{reason="unauthenticated"}') == 1
    assert metric(text, "submission_event_delivery_latency_seconds_count") == 1
