import asyncio

import pytest

from api.flow_control import FlowControl


class Wire:
    def __init__(self, flow):
        self.flow = flow
        self.sent = []

    async def send(self, message):
        await self.flow.before_send(self.ping)
        self.sent.append(message)

    async def ping(self):
        self.sent.append("ping")


async def test_a_client_that_answers_no_ping_gets_at_most_two_windows():
    wire = Wire(FlowControl(window=3))
    for n in range(6):
        await wire.send(n)
    assert wire.sent == [0, 1, 2, "ping", 3, 4, 5]

    blocked = asyncio.create_task(wire.send(6))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.shield(blocked), 0.05)
    assert 6 not in wire.sent

    wire.flow.on_pong()
    await asyncio.wait_for(blocked, 1)
    assert wire.sent[-2:] == ["ping", 6], "the pong acknowledged one window; the next ping asks for the next"


async def test_a_client_that_answers_pings_is_never_held_up():
    wire = Wire(FlowControl(window=3))
    for n in range(100):
        await wire.send(n)
        if "ping" in wire.sent[-2:]:
            wire.flow.on_pong()
    assert [m for m in wire.sent if m != "ping"] == list(range(100))
    assert wire.flow.unacknowledged < 6


async def test_a_send_waiting_for_a_client_that_left_is_released():
    wire = Wire(FlowControl(window=1))
    await wire.send(0)
    await wire.send(1)
    blocked = asyncio.create_task(wire.send(2))
    await asyncio.sleep(0)
    assert not blocked.done()

    wire.flow.close()
    await asyncio.wait_for(blocked, 1)
