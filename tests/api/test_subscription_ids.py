"""Subscribing to an id that cannot exist is NOT_FOUND on that subscription; the connection stays open."""

import pytest

from tests.api.websocket_client import PROTOCOLS, bearer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    "submission_id", ["9" * 95, str(2**63), "+1", "\u0661"], ids=["95-digits", "2**63", "plus", "arabic-indic-one"]
)
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_an_id_that_cannot_exist_is_not_found_and_the_connection_stays_open(
    connect, owner, submission, protocol, submission_id
):
    socket = await connect(protocol, bearer(owner))
    await socket.subscribe("1", {"id": submission_id})
    message = await socket.receive()
    assert message["type"] == ("data" if socket.legacy else "next"), message
    assert [error["extensions"]["code"] for error in message["payload"]["errors"]] == ["NOT_FOUND"]
    assert (await socket.receive())["type"] == "complete"

    await socket.subscribe("2", {"id": str(submission.pk)})
    assert (await socket.next_event("2"))["version"] == 1
