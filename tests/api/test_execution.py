"""A change reaching many subscriptions of one document is executed once, and each still gets it."""

import pytest
from asgiref.sync import sync_to_async

from submissions import services
from submissions.graphql import types
from submissions.models import Status
from tests.api.websocket_client import GraphQLSocket, bearer

pytestmark = pytest.mark.django_db(transaction=True)

DOCUMENT = "subscription ($id: ID!) { submissionStatus(submissionId: $id) { version statusDisplay message } }"
OTHER_DOCUMENT = "subscription ($id: ID!) { submissionStatus(submissionId: $id) { version message } }"


async def test_one_change_is_executed_once_per_distinct_document(owner, submission, monkeypatch):
    executions = []
    status_display = types._status_display

    def counting_status_display(status):
        executions.append(status)
        return status_display(status)

    monkeypatch.setattr(types, "_status_display", counting_status_display)
    sockets = [GraphQLSocket("graphql-transport-ws") for _ in range(4)]
    try:
        for n, socket in enumerate(sockets):
            await socket.connect(bearer(owner))
            await socket.subscribe("1", {"id": str(submission.pk)}, query=OTHER_DOCUMENT if n == 3 else DOCUMENT)
            await socket.next_event("1")
        executions.clear()

        await sync_to_async(services.set_status)(submission, Status.LOADED, "for everyone")
        received = [await socket.next_event("1") for socket in sockets]

        assert [event["message"] for event in received] == ["for everyone"] * 4
        assert received[0] == {"version": 2, "statusDisplay": "Loaded", "message": "for everyone"}
        assert received[3] == {"version": 2, "message": "for everyone"}
        assert executions == [Status.LOADED], "three subscriptions of one document: statusDisplay resolved once"
    finally:
        for socket in sockets:
            await socket.disconnect()


async def test_a_shared_result_is_encoded_once_and_each_socket_still_gets_its_own_operation_id(
    owner, submission, monkeypatch
):
    from live import protocol

    encodings = []
    dumps = protocol.json.dumps

    def counting_dumps(value, **kwargs):
        if isinstance(value, dict) and "submissionStatus" in (value.get("data") or {}):
            encodings.append(value["data"]["submissionStatus"]["version"])
        return dumps(value, **kwargs)

    monkeypatch.setattr(protocol.json, "dumps", counting_dumps)
    sockets = [GraphQLSocket("graphql-transport-ws") for _ in range(3)]
    try:
        for n, socket in enumerate(sockets):
            await socket.connect(bearer(owner))
            await socket.subscribe(f"op-{n}", {"id": str(submission.pk)}, query=DOCUMENT)
            await socket.next_event(f"op-{n}")
        encodings.clear()

        await sync_to_async(services.set_status)(submission, Status.LOADED, "once")
        for n, socket in enumerate(sockets):
            assert (await socket.next_event(f"op-{n}"))["message"] == "once"
        assert encodings == [2], "three sockets, one encoding"
    finally:
        for socket in sockets:
            await socket.disconnect()
