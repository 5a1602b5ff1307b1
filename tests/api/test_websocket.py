"""The submissionStatus subscription over WebSocket, driven in-process through the ASGI application."""

import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from django.db import transaction

from api.asgi import application
from submissions import events, selectors, services
from submissions.models import Status
from tests.api.websocket_client import PROTOCOLS, TIMEOUT_SECONDS, UPDATE_STATUS, GraphQLSocket, bearer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_the_first_event_is_a_snapshot_with_the_validation_summary(connect, owner, submission, protocol):
    await sync_to_async(services.records_add)(
        submission=submission, records=[{"kind": "ANIMAL", "name": "cow-1"}, {"kind": "SAMPLE", "name": "milk-1"}]
    )
    socket = await connect(protocol, bearer(owner))
    await socket.subscribe("1", {"id": str(submission.pk)})

    assert await socket.next_event("1") == {
        "submissionId": str(submission.pk),
        "version": 2,
        "status": "WAITING",
        "statusDisplay": "Waiting",
        "message": None,
        "actions": {"canEdit": False, "canValidate": False, "canSubmit": False, "canDelete": False},
        "validationSummary": {"animals": {"total": 1}, "samples": {"total": 1}},
        "progress": None,
    }


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_each_committed_change_arrives_once_in_version_order(connect, owner, service, submission, protocol):
    socket = await connect(protocol, bearer(owner))
    await socket.subscribe("1", {"id": str(submission.pk)})
    assert (await socket.next_event("1"))["version"] == 1

    for status, message in [("LOADED", "Imported"), ("LOADED", "Validating"), ("READY", "Valid")]:
        result = await service.aexecute(
            UPDATE_STATUS, {"input": {"id": str(submission.pk), "status": status, "message": message}}
        )
        assert "errors" not in result
    await sync_to_async(services.progress_report)(submission=submission, phase="submission", done=3, total=10)

    events = [await socket.next_event("1") for _ in range(4)]
    assert [(e["version"], e["status"], e["message"]) for e in events] == [
        (2, "LOADED", "Imported"),
        (3, "LOADED", "Validating"),
        (4, "READY", "Valid"),
        (5, "READY", "Valid"),
    ]
    assert events[2]["actions"]["canSubmit"] is True
    assert events[0]["validationSummary"] is None
    assert events[3]["progress"] == {"phase": "submission", "done": 3, "total": 10}


async def test_an_event_carries_the_summary_when_the_change_had_one(connect, owner, service, submission):
    socket = await connect("graphql-transport-ws", bearer(owner))
    await socket.subscribe("1", {"id": str(submission.pk)})
    await socket.next_event("1")

    await service.aexecute(
        UPDATE_STATUS, {"input": {"id": str(submission.pk), "status": "LOADED", "includeValidation": True}}
    )
    assert (await socket.next_event("1"))["validationSummary"] == {"animals": {"total": 0}, "samples": {"total": 0}}


async def test_a_change_that_rolls_back_is_never_published(connect, owner, submission):
    socket = await connect("graphql-transport-ws", bearer(owner))
    await socket.subscribe("1", {"id": str(submission.pk)})
    await socket.next_event("1")

    def change_then_fail():
        with transaction.atomic():
            services.set_status(submission, Status.LOADED, "never committed")
            raise RuntimeError("the worker crashed")

    with pytest.raises(RuntimeError):
        await sync_to_async(change_then_fail)()
    await sync_to_async(services.set_status)(submission, Status.ERROR, "committed")

    assert (await socket.next_event("1"))["message"] == "committed"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_another_owners_submission_is_not_found_and_the_connection_stays_open(
    connect, owner, other_owner, submission, protocol
):
    socket = await connect(protocol, bearer(other_owner))
    await socket.subscribe("1", {"id": str(submission.pk)})
    message = await socket.receive()
    assert message["type"] == ("data" if socket.legacy else "next")
    assert [e["extensions"]["code"] for e in message["payload"]["errors"]] == ["NOT_FOUND"]
    assert (await socket.receive())["type"] == "complete"

    own = await sync_to_async(services.submission_create)(owner=other_owner.user, title="Mine")
    await socket.subscribe("2", {"id": str(own.pk)})
    assert (await socket.next_event("2"))["version"] == 1


async def test_a_subscription_completes_when_its_submission_is_deleted(connect, owner, submission):
    await sync_to_async(services.set_status)(submission, Status.LOADED)
    socket = await connect("graphql-transport-ws", bearer(owner))
    await socket.subscribe("1", {"id": str(submission.pk)})
    await socket.next_event("1")

    result = await owner.aexecute("mutation ($id: ID!) { deleteSubmission(id: $id) }", {"id": submission.pk})
    assert "errors" not in result
    assert await socket.receive() == {"id": "1", "type": "complete"}


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"authorization": "Bearer wrong"},
        {"authorization": "Basic abc"},
        {"authorization": 123},
        {"authorization": ["Bearer x"]},
    ],
)
async def test_a_connection_init_without_valid_credentials_is_closed_with_4403(db, protocol, payload):
    socket = GraphQLSocket(protocol)
    connected, _ = await socket.communicator.connect()
    assert connected
    await socket.communicator.send_json_to({"type": "connection_init", "payload": payload})
    if socket.legacy:
        assert (await socket.receive())["type"] == "connection_error"
    assert await socket.close_code() == 4403


async def test_a_token_on_the_upgrade_request_authenticates(connect, owner, submission):
    socket = await connect("graphql-transport-ws", headers=[(b"authorization", f"Bearer {owner.token}".encode())])
    await socket.subscribe("1", {"id": str(submission.pk)})
    assert (await socket.next_event("1"))["version"] == 1


async def _session_cookie(user) -> bytes:
    from django.test import Client

    client = Client()
    await sync_to_async(client.force_login)(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def test_a_signed_in_browser_on_the_same_origin_is_authenticated_by_its_cookie(connect, owner, submission):
    cookie = await _session_cookie(owner.user)
    headers = [(b"cookie", cookie), (b"origin", b"http://testserver"), (b"host", b"testserver")]
    socket = await connect("graphql-transport-ws", headers=headers)
    await socket.subscribe("1", {"id": str(submission.pk)})
    assert (await socket.next_event("1"))["version"] == 1


async def test_a_page_on_another_site_cannot_open_a_socket_with_the_users_cookie(owner):
    cookie = await _session_cookie(owner.user)
    socket = GraphQLSocket(
        "graphql-transport-ws",
        headers=[(b"cookie", cookie), (b"origin", b"https://evil.example"), (b"host", b"testserver")],
    )
    connected, _ = await socket.communicator.connect()
    assert not connected


async def handshake(*, origin: str, host: str, peer: str = "203.0.113.7", forwarded_proto: str | None = None) -> str:
    """What the application answers a browser's WebSocket handshake without Sec-Fetch-Site: accept or close."""
    headers = [(b"origin", origin.encode()), (b"host", host.encode())]
    if forwarded_proto:
        headers.append((b"x-forwarded-proto", forwarded_proto.encode()))
    scope = {
        "type": "websocket",
        "scheme": "ws",
        "path": "/graphql/",
        "raw_path": b"/graphql/",
        "query_string": b"",
        "headers": headers,
        "subprotocols": ["graphql-transport-ws"],
        "client": (peer, 5000),
        "server": ("127.0.0.1", 8000),
    }
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "websocket.connect"})
    answer = (await communicator.receive_output(timeout=TIMEOUT_SECONDS))["type"]
    await communicator.send_input({"type": "websocket.disconnect", "code": 1000})
    await communicator.wait(timeout=TIMEOUT_SECONDS)
    return answer


async def test_a_page_on_the_servers_own_host_and_port_may_open_a_socket(settings):
    settings.ALLOWED_HOSTS = ["site"]

    assert await handshake(origin="http://site:8123", host="site:8123") == "websocket.accept"


async def test_a_page_on_the_same_host_but_another_port_may_not(settings):
    # What a proxy that drops the port (`Host $host`) makes of the page's own origin.
    settings.ALLOWED_HOSTS = ["site"]

    assert await handshake(origin="http://site:8123", host="site") == "websocket.close"


async def test_an_https_page_behind_a_trusted_proxy_terminating_tls_may_open_a_socket(settings):
    settings.ALLOWED_HOSTS = ["site"]

    answer = await handshake(origin="https://site:8443", host="site:8443", peer="127.0.0.1", forwarded_proto="https")

    assert answer == "websocket.accept"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_subscriptions_per_connection_are_capped_with_a_code(connect, owner, submission, protocol, settings):
    settings.WEBSOCKET_MAX_OPERATIONS_PER_CONNECTION = 5
    socket = await connect(protocol, bearer(owner))
    for n in range(5):
        await socket.subscribe(str(n), {"id": str(submission.pk)})
        await socket.next_event(str(n))

    await socket.subscribe("one-too-many", {"id": str(submission.pk)})
    message = await socket.receive()
    assert message["type"] == "error" and message["id"] == "one-too-many"
    error = message["payload"] if socket.legacy else message["payload"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "5 operations" in error["message"]


async def test_a_change_committed_just_after_the_snapshot_was_read_still_arrives(
    connect, owner, submission, monkeypatch
):
    # The subscription joins the group before it reads the snapshot; read in
    # the other order, this change would fall between the two and be lost.
    read_state = selectors.submission_state

    def state_then_a_change(**kwargs):
        state = read_state(**kwargs)
        services.set_status(submission, Status.LOADED, "committed after the read")
        return state

    monkeypatch.setattr(selectors, "submission_state", state_then_a_change)
    socket = await connect("graphql-transport-ws", bearer(owner))
    await socket.subscribe("1", {"id": str(submission.pk)})

    assert (await socket.next_event("1"))["version"] == 1
    assert (await socket.next_event("1"))["message"] == "committed after the read"


async def test_a_lost_event_is_made_up_for_by_a_snapshot(connect, owner, submission, monkeypatch):
    socket = await connect("graphql-transport-ws", bearer(owner))
    await socket.subscribe("1", {"id": str(submission.pk)})
    await socket.next_event("1")

    send = events._group_send
    monkeypatch.setattr(events, "_group_send", lambda event: None if event["version"] == 2 else send(event))
    await sync_to_async(services.set_status)(submission, Status.LOADED, "lost on the way")
    await sync_to_async(services.set_status)(submission, Status.LOADED, "arrives")

    event = await socket.next_event("1")
    assert (event["version"], event["message"]) == (3, "arrives")
    assert event["validationSummary"] is not None, "after a gap the subscriber re-reads the submission"


async def test_an_event_delivered_twice_is_shown_once(connect, owner, submission, monkeypatch):
    socket = await connect("graphql-transport-ws", bearer(owner))
    await socket.subscribe("1", {"id": str(submission.pk)})
    await socket.next_event("1")

    send = events._group_send
    monkeypatch.setattr(events, "_group_send", lambda event: (send(event), send(event)))
    await sync_to_async(services.set_status)(submission, Status.LOADED, "first")
    await sync_to_async(services.set_status)(submission, Status.LOADED, "second")

    assert [(await socket.next_event("1"))["message"] for _ in range(2)] == ["first", "second"]


async def test_events_that_arrive_out_of_order_are_shown_in_version_order(connect, owner, submission, monkeypatch):
    socket = await connect("graphql-transport-ws", bearer(owner))
    await socket.subscribe("1", {"id": str(submission.pk)})
    await socket.next_event("1")

    send, held = events._group_send, []

    def second_overtakes_first(event):
        if event["version"] == 2:
            held.append(event)
            return
        send(event)
        for event in held:
            send(event)

    monkeypatch.setattr(events, "_group_send", second_overtakes_first)
    await sync_to_async(services.set_status)(submission, Status.LOADED, "first")
    await sync_to_async(services.set_status)(submission, Status.LOADED, "second")

    received = [await socket.next_event("1") for _ in range(2)]
    assert [(event["version"], event["message"]) for event in received] == [(2, "first"), (3, "second")]
    assert received[1]["validationSummary"] is None, "each change itself, not a snapshot"
