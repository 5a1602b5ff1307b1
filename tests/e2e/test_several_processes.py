"""Several daphne processes sharing PostgreSQL and Redis: one stream of events, whoever publishes."""

import asyncio
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest
import websockets

from tests.e2e.client import GraphQLWebSocket

CREATE = 'mutation { createSubmission(input: {title: "Herd"}) { id } }'
UPDATE_STATUS = """
mutation ($input: UpdateSubmissionStatusInput!) { updateSubmissionStatus(input: $input) { version } }
"""
WORKER = """
from submissions.helpers import send_message
from submissions.models import Submission
send_message(Submission.objects.get(pk={pk}))
"""


def update_status(server, token, pk, status="LOADED", message=None) -> dict:
    variables = {"input": {"id": pk, "status": status, "message": message}}
    result = server.execute(UPDATE_STATUS, variables, token=token)
    assert "errors" not in result, result
    return result["data"]["updateSubmissionStatus"]


async def subscribed(server, token, pk, protocol="graphql-transport-ws") -> tuple[GraphQLWebSocket, dict]:
    client = GraphQLWebSocket(server.ws_url, protocol)
    assert (await client.connect({"authorization": f"Bearer {token}"}))["type"] == "connection_ack"
    await client.subscribe("1", {"id": pk})
    return client, await client.next_event("1")


@pytest.fixture
def service_token(cluster):
    return cluster.manage("create_api_token", "pipeline", "--create-user", "--service").strip()


@pytest.fixture
def submission_id(cluster, service_token):
    server = cluster.start_server()
    return server.execute(CREATE, token=service_token)["data"]["createSubmission"]["id"]


async def test_a_change_made_anywhere_reaches_subscribers_on_every_process(cluster, service_token, submission_id):
    a, b = cluster.servers[0], cluster.start_server()
    clients = []
    try:
        for server in (a, b):
            client, snapshot = await subscribed(server, service_token, submission_id)
            clients.append(client)
            assert snapshot["version"] == 1

        await asyncio.to_thread(update_status, a, service_token, submission_id, "LOADED", "through A")
        await asyncio.to_thread(update_status, b, service_token, submission_id, "LOADED", "through B")
        await asyncio.to_thread(cluster.manage, "set_submission_status", submission_id, "ERROR", "--message", "cli")
        await asyncio.to_thread(cluster.python, WORKER.format(pk=submission_id))

        for client in clients:
            events = [await client.next_event("1") for _ in range(4)]
            assert [(e["version"], e["message"]) for e in events] == [
                (2, "through A"),
                (3, "through B"),
                (4, "cli"),
                (5, "cli"),
            ]
    finally:
        for client in clients:
            await client.close()


async def test_concurrent_changes_from_several_processes_arrive_in_strictly_increasing_versions(
    cluster, service_token, submission_id
):
    servers = [cluster.servers[0], cluster.start_server()]
    changes = 40
    clients = []
    try:
        for server in servers * 2:
            client, _ = await subscribed(server, service_token, submission_id)
            clients.append(client)

        def change(n):
            return update_status(servers[n % 2], service_token, submission_id, "LOADED", f"change {n}")

        with ThreadPoolExecutor(max_workers=8) as pool:
            versions = sorted(result["version"] for result in pool.map(change, range(changes)))
        assert versions == list(range(2, changes + 2)), "the database gives every change its own version"

        for client in clients:
            seen = [1]
            while seen[-1] < changes + 1:
                seen.append((await client.next_event("1"))["version"])
            assert seen == sorted(set(seen)), f"versions must strictly increase: {seen}"
    finally:
        for client in clients:
            await client.close()


# channels-redis' pub/sub layer reconnects silently and drops what was
# published meanwhile; the README records how each layer fared.
@pytest.mark.parametrize("cluster", ["core"], indirect=True)
async def test_subscriptions_survive_a_redis_restart_and_catch_up(cluster, service_token, submission_id):
    server = cluster.servers[0]
    client, _ = await subscribed(server, service_token, submission_id)
    try:
        cluster.redis.stop()
        # Redis is down: the change still commits and the mutation succeeds.
        changed = await asyncio.to_thread(update_status, server, service_token, submission_id, "LOADED", "offline")
        assert changed == {"version": 2}
        cluster.redis.start()

        # The event of version 2 could not be sent while Redis was down; it
        # reaches the subscriber once Redis is back (resent, or as a snapshot).
        caught_up = await client.next_event("1")
        assert (caught_up["version"], caught_up["message"]) == (2, "offline")

        await asyncio.to_thread(update_status, server, service_token, submission_id, "LOADED", "online")
        assert (await client.next_event("1"))["message"] == "online"
    finally:
        await client.close()


async def test_a_database_error_during_a_change_publishes_nothing(cluster, service_token, submission_id):
    server = cluster.servers[0]
    cluster.python(
        "from django.db import connection\n"
        "connection.cursor().execute('''\n"
        "  CREATE FUNCTION refuse_boom() RETURNS trigger AS $$ BEGIN\n"
        "    IF NEW.message = 'boom' THEN RAISE EXCEPTION 'disk full'; END IF; RETURN NEW;\n"
        "  END $$ LANGUAGE plpgsql;\n"
        "  CREATE TRIGGER refuse_boom BEFORE UPDATE ON submissions_submission\n"
        "    FOR EACH ROW EXECUTE FUNCTION refuse_boom();''')\n"
    )
    client, _ = await subscribed(server, service_token, submission_id)
    try:
        failed = await asyncio.to_thread(
            server.execute,
            UPDATE_STATUS,
            {"input": {"id": submission_id, "status": "LOADED", "message": "boom"}},
            token=service_token,
        )
        assert [e["extensions"]["code"] for e in failed["errors"]] == ["INTERNAL_SERVER_ERROR"]
        assert "disk full" not in str(failed)

        await asyncio.to_thread(update_status, server, service_token, submission_id, "LOADED", "fine")
        event = await client.next_event("1")
        assert (event["version"], event["message"]) == (2, "fine")
    finally:
        await client.close()


async def test_a_stopped_process_closes_its_sockets_and_clients_resume_elsewhere(cluster, service_token, submission_id):
    a, b = cluster.servers[0], cluster.start_server()
    client, _ = await subscribed(a, service_token, submission_id)
    a.process.send_signal(signal.SIGTERM)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await client.receive()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000, "closed cleanly: clients reconnect at once"
    assert await asyncio.to_thread(a.process.wait, 10) == 0

    await asyncio.to_thread(update_status, b, service_token, submission_id, "LOADED", "while away")
    client, snapshot = await subscribed(b, service_token, submission_id)
    try:
        assert (snapshot["version"], snapshot["message"]) == (2, "while away")
    finally:
        await client.close()


async def test_a_subscription_idle_longer_than_a_redis_blocking_pop_still_gets_the_next_change(
    cluster, service_token, submission_id
):
    # channels-redis blocks in BZPOPMIN for 5 s; a client socket timeout at or
    # under that (redis-py 8's default) killed idle subscriptions.
    server = cluster.servers[0]
    client, _ = await subscribed(server, service_token, submission_id)
    try:
        await asyncio.sleep(7)  # the scenario itself: seven quiet seconds
        await asyncio.to_thread(update_status, server, service_token, submission_id, "LOADED", "after a quiet spell")
        assert (await client.next_event("1"))["message"] == "after a quiet spell"
    finally:
        await client.close()
