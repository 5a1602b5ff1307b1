"""A client that stops reading: others are not held up, its backlog is bounded, and it catches up."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from api.servers import SERVERS
from live.flow import WINDOW_MESSAGES
from live.groups import HISTORY_SIZE
from tests.e2e.client import GraphQLWebSocket

UPDATE_STATUS = """
mutation ($input: UpdateSubmissionStatusInput!) { updateSubmissionStatus(input: $input) { version } }
"""
# A stalled subscription holds at most two windows in flight, and is caught
# up from its group's history; this is more than that, so the rest must be
# replaced by a snapshot.
BACKLOG_LIMIT = 2 * WINDOW_MESSAGES + HISTORY_SIZE
CHANGES = BACKLOG_LIMIT + WINDOW_MESSAGES


@pytest.mark.parametrize("server_name", SERVERS)
async def test_a_client_that_stops_reading_holds_up_no_one_and_catches_up_when_it_reads_again(project, server_name):
    # Within its grace period (tests/e2e/test_hostile_sockets.py shows what comes after it).
    project.env["WEBSOCKET_STALL_GRACE_SECONDS"] = "300"
    server = project.start_server(server=server_name)
    token = project.manage("create_api_token", "pipeline", "--create-user", "--service").strip()
    pk = server.execute('mutation { createSubmission(input: {title: "Herd"}) { id } }', token=token)["data"][
        "createSubmission"
    ]["id"]

    slow, fast = GraphQLWebSocket(server.ws_url), GraphQLWebSocket(server.ws_url)
    try:
        for client in (slow, fast):
            await client.connect({"authorization": f"Bearer {token}"})
            await client.subscribe("1", {"id": pk})
            assert (await client.next_event("1"))["version"] == 1
        # From here the slow client reads nothing.

        def change(n):
            variables = {"input": {"id": pk, "status": "LOADED", "message": f"change {n}"}}
            return server.execute(UPDATE_STATUS, variables, token=token)

        with ThreadPoolExecutor(max_workers=4) as pool:
            pool.map(change, range(CHANGES))
        final_version = CHANGES + 1

        seen = [1]
        while seen[-1] < final_version:
            seen.append((await fast.next_event("1"))["version"])
        assert seen == sorted(set(seen)), "the reading client got every change in order, unhindered"

        received = []
        while not received or received[-1].get("version") != final_version:
            message = await slow.receive()  # answers the server's pings again
            received.append(message["payload"]["data"]["submissionStatus"])
        versions = [event["version"] for event in received]
        assert versions == sorted(set(versions)), versions
        assert len(received) <= BACKLOG_LIMIT + 1, f"{len(received)} events were kept for a client not reading"
        assert received[-1]["validationSummary"] is not None, "it caught up through a snapshot"
    finally:
        for client in (slow, fast):
            await client.close()
