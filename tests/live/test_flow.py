"""Flow control, as the protocol state it is: what is sent, what waits, and when a client is given up on."""

import asyncio

import pytest

from live.flow import MAX_WINDOWS_UNREAD, FlowControl


class Wire:
    """A connection's sending side: what was sent, and whether it was closed for being too slow."""

    def __init__(self, window, *, stall_grace_seconds=60.0):
        self.flow = FlowControl(window=window, stall_grace_seconds=stall_grace_seconds, on_stalled=self.stalled)
        self.sent = []
        self.stalled_once = asyncio.Event()

    async def send(self, message, *, result=True) -> bool:
        if not await self.flow.before_send(self.ping, result=result):
            return False
        self.sent.append(message)
        return True

    async def ping(self):
        self.sent.append("ping")

    def stalled(self):
        self.stalled_once.set()


async def test_a_client_that_answers_no_ping_gets_at_most_two_windows_of_results():
    wire = Wire(window=3)
    for n in range(5):
        await wire.send(n)
    assert wire.sent == [0, 1, 2, "ping", 3, 4]

    blocked = asyncio.create_task(wire.send(5))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.shield(blocked), 0.05)
    assert 5 not in wire.sent

    wire.flow.on_pong()
    assert await asyncio.wait_for(blocked, 1)
    assert wire.sent[-1] == 5, "the pong acknowledged one window"


async def test_a_client_that_answers_pings_is_never_held_up():
    wire = Wire(window=3)
    for n in range(100):
        await wire.send(n)
        if "ping" in wire.sent[-2:]:
            wire.flow.on_pong()
    assert [m for m in wire.sent if m != "ping"] == list(range(100))
    assert wire.flow.unacknowledged < 6


async def test_replies_never_wait_so_the_server_keeps_reading():
    wire = Wire(window=3)
    for n in range(2 * 3 + 2):
        assert await asyncio.wait_for(wire.send(f"pong {n}", result=False), 1)
    assert wire.flow.would_wait


async def test_a_client_that_lets_replies_pile_up_is_given_up_on_at_once():
    wire = Wire(window=3)
    sent = 0
    while await wire.send("pong", result=False):
        sent += 1
        assert sent < 100
    assert wire.flow.unacknowledged <= MAX_WINDOWS_UNREAD * 3


async def test_a_client_two_windows_behind_past_the_grace_period_is_closed():
    wire = Wire(window=2, stall_grace_seconds=0.05)
    for n in range(3):
        await wire.send(n)
    assert wire.flow.would_wait
    await asyncio.wait_for(wire.stalled_once.wait(), 2)


async def test_a_client_that_catches_up_within_the_grace_period_is_kept():
    wire = Wire(window=2, stall_grace_seconds=0.2)
    for n in range(3):
        await wire.send(n)
    assert wire.flow.would_wait
    wire.flow.on_pong()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(wire.stalled_once.wait(), 0.4)


async def test_a_send_waiting_for_a_client_that_left_is_released():
    wire = Wire(window=1)
    await wire.send(0)
    await wire.send(1)
    blocked = asyncio.create_task(wire.send(2))
    await asyncio.sleep(0)
    assert not blocked.done()

    wire.flow.close()
    assert await asyncio.wait_for(blocked, 1) is False
