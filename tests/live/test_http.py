"""live.http: which framing a client asks for, how each writes a stream, and what a client that stops reading costs."""

import asyncio
import json

import pytest
from strawberry.http import GraphQLRequestData

from api import servers
from api.auth import Viewer
from api.open_sockets import Credential, open_sockets
from api.schema import schema
from live import http
from live.http import MULTIPART, SSE, ResultStream, framing_for

# What the clients send for a subscription, as read from their sources.
APOLLO_CLIENT = "multipart/mixed;boundary=graphql;subscriptionSpec=1.0,application/json"
URQL = "text/event-stream, multipart/mixed"
GRAPHQL_SSE = "text/event-stream"
# And for a query: these get a plain JSON response.
APOLLO_CLIENT_QUERY = "multipart/mixed;deferSpec=20220824,application/json"
URQL_QUERY = "application/graphql-response+json, application/graphql+json, application/json, text/event-stream"


@pytest.mark.parametrize(
    ("accept", "framing"),
    [
        (APOLLO_CLIENT, MULTIPART),
        ("multipart/mixed;subscriptionSpec=1.0", MULTIPART),
        ('multipart/mixed;subscriptionSpec="1.0", application/json', MULTIPART),
        (URQL, SSE),
        (GRAPHQL_SSE, SSE),
        ("application/json;q=0.5, multipart/mixed;subscriptionSpec=1.0", MULTIPART),
        ("text/event-stream;q=0, application/json", None),
        (APOLLO_CLIENT_QUERY, None),
        (URQL_QUERY, None),
        ("application/json", None),
        ("text/html,application/xhtml+xml,*/*;q=0.8", None),
        ("", None),
    ],
)
def test_the_framing_is_the_first_stream_the_client_prefers(accept, framing):
    assert framing_for(accept) is framing


def test_a_multipart_stream_is_parts_of_json_between_graphql_boundaries():
    body = MULTIPART.opening + MULTIPART.result('{"data":{"a":1}}') + MULTIPART.heartbeat() + MULTIPART.complete()

    assert body == (
        "--graphql\r\nContent-Type: application/json; charset=utf-8\r\n\r\n"
        '{"payload":{"data":{"a":1}}}\r\n--graphql\r\n'
        "Content-Type: application/json; charset=utf-8\r\n\r\n{}\r\n--graphql--\r\n"
    )


def test_a_multipart_stream_ended_early_carries_a_transport_error_then_its_end():
    error = {"message": "Too far behind", "extensions": {"code": "CLIENT_TOO_SLOW"}}

    ended = MULTIPART.ended_early(error, resubscribe=True)

    part = ended.split("\r\n\r\n", 1)[1].split("\r\n", 1)[0]
    assert json.loads(part) == {"payload": None, "errors": [error]}
    assert ended.endswith("--graphql--\r\n")


def test_server_sent_events_are_next_events_then_complete_with_bare_line_feeds():
    body = SSE.result('{"data":{"a":1}}') + SSE.heartbeat() + SSE.complete()

    assert body == 'event: next\ndata: {"data":{"a":1}}\n\n:\n\nevent: complete\ndata:\n\n'


def test_server_sent_events_end_without_complete_when_the_client_should_subscribe_again():
    error = {"message": "Server shutting down", "extensions": {"code": "SERVER_SHUTTING_DOWN"}}

    assert (
        SSE.ended_early(error, resubscribe=True)
        == f"event: next\ndata: {json.dumps({'data': None, 'errors': [error]}, separators=(',', ':'))}\n\n"
    )
    assert SSE.ended_early(error, resubscribe=False).endswith("event: complete\ndata:\n\n")


# Flow control, with the stream driven as Django's ASGI handler drives it.

SUBSCRIPTION = "subscription ($id: ID!) { submissionStatus(submissionId: $id) { version } }"


def owner_viewer(caller) -> Viewer:
    return Viewer(user=caller.user, is_service=False)


def _stream() -> ResultStream:
    return ResultStream(schema, framing=SSE, viewer=None, context={}, request_data=None, allowed_operation_types=None)


async def test_a_stream_whose_client_is_not_reading_refuses_results_past_its_outbox():
    stream = _stream()

    for _ in range(http.OUTBOX_RESULTS):
        assert stream.can_send_now()
        assert await stream.send_result('{"data":{}}')

    assert not stream.can_send_now()
    waiting = asyncio.ensure_future(stream.writable())
    await asyncio.sleep(0)
    assert not waiting.done()
    stream._on_drained()  # the server took the outbox
    stream._outbox.clear()
    assert await asyncio.wait_for(waiting, 1) is True


# A result larger than the whole send budget the tests below allow.
LARGE_RESULT = json.dumps({"data": {"submissionStatus": {"message": "x" * 400}}})


@pytest.fixture
def small_send_budget(settings):
    settings.HTTP_STREAM_SEND_BUFFER_BYTES = 200
    settings.HTTP_STREAM_SEND_BYTES_PER_SECOND = 1


async def test_under_a_server_whose_send_waits_for_the_client_no_send_budget_cuts_a_stream_off(
    small_send_budget, monkeypatch
):
    monkeypatch.setattr(servers, "send_waits_for_client", True)  # uvicorn (api.uvicorn_server)
    stream = _stream()

    assert await stream.send_result(LARGE_RESULT)
    assert await stream.send_result(LARGE_RESULT)
    assert "CLIENT_TOO_SLOW" not in "".join(stream._outbox)


async def test_under_a_server_whose_send_never_waits_a_stream_past_its_budget_ends_with_client_too_slow(
    small_send_budget, monkeypatch
):
    monkeypatch.setattr(servers, "send_waits_for_client", False)  # daphne
    stream = _stream()

    assert not await stream.send_result(LARGE_RESULT)
    assert "CLIENT_TOO_SLOW" in "".join(stream._outbox)
    assert not await stream.send_result('{"data":{}}')


@pytest.mark.django_db(transaction=True)
async def test_a_client_that_reads_nothing_for_the_stall_grace_is_cut_off(settings, owner, submission):
    settings.WEBSOCKET_STALL_GRACE_SECONDS = 0.05
    stream = ResultStream(
        schema,
        framing=SSE,
        viewer=owner_viewer(owner),
        context={"viewer": owner_viewer(owner)},
        request_data=GraphQLRequestData(
            query=SUBSCRIPTION, variables={"id": str(submission.pk)}, operation_name=None, extensions=None
        ),
        allowed_operation_types=None,
    )
    snapshot = asyncio.Event()

    async def server_that_stops_taking_chunks():
        async for _chunk in stream.body():
            snapshot.set()
            await asyncio.Event().wait()  # the socket's send buffer is full: this send never returns

    response = asyncio.ensure_future(server_that_stops_taking_chunks())
    await asyncio.wait_for(snapshot.wait(), 5)

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(response, 5)
    assert stream.group is None  # no longer a member: its group sends it nothing more
    assert not await stream.send_result('{"data":{}}')


async def test_an_ended_stream_is_forgotten_by_the_credential_registry(settings):
    settings.WEBSOCKET_MAX_CONNECTIONS_PER_CREDENTIAL = 1
    credential = Credential(kind="token", key="hash", viewer=Viewer(user=None, is_service=True))
    stream = _stream()
    http.admit(client_address=None, credential=credential, stream=stream)

    with pytest.raises(http.Refused) as refused:
        http.admit(client_address=None, credential=credential, stream=_stream())
    stream.body().close()
    await asyncio.sleep(0)

    assert refused.value.status == 429
    assert open_sockets().add(credential, _stream())
