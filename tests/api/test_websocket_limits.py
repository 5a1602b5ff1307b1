"""What one socket may cost: malformed frames, floods, silence, limits per credential, and revoked access."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from api import metrics
from api.models import ApiToken
from tests.api.websocket_client import PROTOCOLS, GraphQLSocket, bearer

pytestmark = pytest.mark.django_db(transaction=True)

VIEWER = "{ viewer { username isService } }"


def _open_gauge() -> float:
    return metrics.websockets_open._value.get()


async def _opened(protocol, *, headers=()) -> GraphQLSocket:
    socket = GraphQLSocket(protocol, headers=headers)
    connected, _ = await socket.communicator.connect()
    assert connected
    return socket


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    "first_message",
    ["[1]", '"x"', "null", "[" * 50_000 + "]" * 50_000, '{"type": "subscribe", "id": "1", "payload": {"query": null}}'],
    ids=["list", "string", "null", "deep", "query-null"],
)
async def test_a_malformed_first_message_closes_the_socket_with_4400(db, protocol, first_message):
    socket = await _opened(protocol)
    await socket.communicator.send_to(text_data=first_message)
    assert await socket.close_code() == 4400


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_binary_frame_closes_the_socket_with_4400(db, protocol):
    socket = await _opened(protocol)
    await socket.communicator.send_to(bytes_data=b"\x00\x01")
    assert await socket.close_code() == 4400


async def test_a_deeply_nested_pong_closes_the_socket_and_its_clean_up_runs(connect, owner):
    before = _open_gauge()
    socket = await connect("graphql-transport-ws", bearer(owner))
    assert _open_gauge() == before + 1
    await socket.communicator.send_to(text_data='{"type": "pong", "payload": ' + "[" * 50_000 + "]" * 50_000 + "}")
    assert await socket.close_code() == 4400
    await socket.disconnect()
    assert _open_gauge() == before, "the connection gauge came back down"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_malformed_message_after_the_handshake_closes_the_socket_with_4400(connect, owner, protocol):
    socket = await connect(protocol, bearer(owner))
    kind = "start" if socket.legacy else "subscribe"
    await socket.communicator.send_to(text_data=json.dumps({"type": kind, "id": "1"}))
    assert await socket.close_code() == 4400


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_client_that_never_sends_connection_init_is_closed_with_4408(db, protocol, settings):
    settings.WEBSOCKET_CONNECTION_INIT_SECONDS = 0.2
    socket = await _opened(protocol)
    assert await socket.close_code() == 4408


async def test_pings_are_answered_at_once(connect, owner):
    socket = await connect("graphql-transport-ws", bearer(owner))
    await socket.communicator.send_json_to({"type": "ping"})
    assert await socket.communicator.receive_json_from(timeout=5) == {"type": "pong"}


@pytest.mark.parametrize("key", ["authorization", "Authorization", "AUTHORIZATION"])
async def test_the_authorization_key_of_connection_init_is_read_whatever_its_case(connect, owner, key):
    socket = await connect("graphql-transport-ws", {key: f"Bearer {owner.token}"})
    await socket.communicator.send_json_to({"id": "1", "type": "subscribe", "payload": {"query": VIEWER}})
    assert (await socket.receive())["payload"] == {"data": {"viewer": {"username": "olivia", "isService": False}}}


async def test_queries_and_mutations_run_over_the_legacy_protocol(connect, owner):
    socket = await connect("graphql-ws", bearer(owner))
    await socket.communicator.send_json_to({"id": "q", "type": "start", "payload": {"query": VIEWER}})
    assert await socket.receive() == {
        "id": "q",
        "type": "data",
        "payload": {"data": {"viewer": {"username": "olivia", "isService": False}}},
    }
    assert await socket.receive() == {"id": "q", "type": "complete"}

    create = 'mutation { createSubmission(input: {title: "Over the socket"}) { title status } }'
    await socket.communicator.send_json_to({"id": "m", "type": "start", "payload": {"query": create}})
    message = await socket.receive()
    assert message["payload"] == {"data": {"createSubmission": {"title": "Over the socket", "status": "WAITING"}}}
    assert await socket.receive() == {"id": "m", "type": "complete"}


async def test_an_error_in_a_legacy_query_carries_a_code(connect, owner):
    socket = await connect("graphql-ws", bearer(owner))
    query = '{ submission(id: "999999") { title } }'
    await socket.communicator.send_json_to({"id": "q", "type": "start", "payload": {"query": query}})
    message = await socket.receive()
    assert message["type"] == "data"
    assert [error["extensions"]["code"] for error in message["payload"]["errors"]] == ["NOT_FOUND"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_connections_per_credential_are_capped_with_4429(connect, owner, protocol, settings):
    settings.WEBSOCKET_MAX_CONNECTIONS_PER_CREDENTIAL = 2
    for _ in range(2):
        await connect(protocol, bearer(owner))
    socket = await _opened(protocol)
    await socket.communicator.send_json_to({"type": "connection_init", "payload": bearer(owner)})
    assert await socket.close_code() == 4429


async def test_a_closed_connection_frees_its_place_under_the_credential_cap(connect, owner, settings):
    settings.WEBSOCKET_MAX_CONNECTIONS_PER_CREDENTIAL = 1
    first = await connect("graphql-transport-ws", bearer(owner))
    await first.disconnect()
    await connect("graphql-transport-ws", bearer(owner))


async def _session_cookie(user) -> tuple[bytes, "Client"]:  # noqa: F821
    from django.test import Client

    client = Client()
    await sync_to_async(client.force_login)(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode(), client


def _revocations():
    def delete_token(caller, client):
        ApiToken.objects.filter(user=caller.user).delete()

    def deactivate_user(caller, client):
        get_user_model().objects.filter(pk=caller.user.pk).update(is_active=False)

    def log_out(caller, client):
        client.post("/accounts/logout/")

    def remove_service_flag(caller, client):
        ApiToken.objects.filter(user=caller.user).update(is_service=False)

    return [
        ("token", delete_token, False),
        ("token", deactivate_user, False),
        ("token", remove_service_flag, True),
        ("session", log_out, False),
        ("session", deactivate_user, False),
    ]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    ("credential", "revoke", "as_service"),
    _revocations(),
    ids=lambda value: getattr(value, "__name__", str(value)),
)
async def test_a_socket_whose_access_was_revoked_is_closed_with_4403(
    connect, owner, service, submission, protocol, credential, revoke, as_service, settings
):
    settings.WEBSOCKET_ACCESS_RECHECK_SECONDS = 0.1
    caller = service if as_service else owner
    cookie, client = await _session_cookie(caller.user)
    if credential == "token":
        socket = await connect(protocol, bearer(caller))
    else:
        headers = [(b"cookie", cookie), (b"origin", b"http://testserver"), (b"host", b"testserver")]
        socket = await connect(protocol, headers=headers)
    await socket.subscribe("1", {"id": str(submission.pk)})
    assert (await socket.next_event("1"))["version"] == 1

    await sync_to_async(revoke)(caller, client)
    assert await socket.close_code() == 4403


async def test_a_socket_whose_access_holds_stays_open(connect, owner, submission, settings):
    settings.WEBSOCKET_ACCESS_RECHECK_SECONDS = 0.05
    socket = await connect("graphql-transport-ws", bearer(owner))
    await socket.subscribe("1", {"id": str(submission.pk)})
    assert (await socket.next_event("1"))["version"] == 1
    await asyncio.sleep(0.3)  # several checks go by: nothing to wait for but time itself
    assert await socket.communicator.receive_nothing(timeout=0.1)
