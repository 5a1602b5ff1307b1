"""The workRequests subscription, over a real WebSocket: services hear of work; nobody else does."""

import pytest
import websockets

from tests.e2e.client import GraphQLWebSocket
from tests.e2e.test_worker import REQUEST_VALIDATION, Setup, animal

WORK_REQUESTS = "subscription($kinds: [WorkRequestKind!]) { workRequests(kinds: $kinds) { submissionId kind } }"


@pytest.fixture
def setup(project):
    return Setup(project, project.start_server())


async def subscribed(setup, token: str, variables: dict | None = None) -> GraphQLWebSocket:
    socket = GraphQLWebSocket(setup.server.ws_url)
    assert (await socket.connect({"authorization": f"Bearer {token}"}))["type"] == "connection_ack"
    await socket.subscribe("work", variables or {}, query=WORK_REQUESTS)
    return socket


async def next_notice(socket: GraphQLWebSocket) -> dict:
    message = await socket.receive()
    assert message["type"] == "next" and "errors" not in message["payload"], message
    return message["payload"]["data"]["workRequests"]


def refusal_code(message: dict) -> str:
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    return errors[0]["extensions"]["code"]


async def test_a_service_gets_the_waiting_requests_then_a_notice_when_an_owner_requests_validation(setup):
    waiting = setup.loaded_submission([animal("cow-1")], title="Waiting")
    setup.owner.execute(REQUEST_VALIDATION, {"id": waiting})
    later = setup.loaded_submission([animal("cow-1")], title="Later")
    socket = await subscribed(setup, setup.service_token)
    try:
        assert await next_notice(socket) == {"submissionId": waiting, "kind": "VALIDATION"}

        setup.owner.execute(REQUEST_VALIDATION, {"id": later})

        assert await next_notice(socket) == {"submissionId": later, "kind": "VALIDATION"}
    finally:
        await socket.close()


async def test_an_owner_is_refused_with_forbidden(setup):
    submission_id = setup.loaded_submission([animal("cow-1")])
    setup.owner.execute(REQUEST_VALIDATION, {"id": submission_id})
    socket = await subscribed(setup, setup.owner_token)
    try:
        assert refusal_code(await socket.receive()) == "FORBIDDEN"
    finally:
        await socket.close()


async def test_an_anonymous_caller_is_refused_before_it_can_subscribe(setup):
    submission_id = setup.loaded_submission([animal("cow-1")])
    setup.owner.execute(REQUEST_VALIDATION, {"id": submission_id})
    socket = GraphQLWebSocket(setup.server.ws_url)
    try:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await socket.connect({})
            await socket.subscribe("work", {}, query=WORK_REQUESTS)
            await socket.receive()
        assert closed.value.rcvd.code == 4403
    finally:
        await socket.close()
