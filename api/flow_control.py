"""Flow control for graphql-transport-ws: a client that stops reading stops receiving.

Daphne accepts every message an application sends and buffers it until the
socket drains, so a client that stops reading would make the server's memory
grow without limit. The protocol's ping/pong gives an acknowledgement: after
`window` messages the server sends a ping, and a client that has read up to
that ping answers with a pong. Past two windows without an answer, sending
waits. The subscriptions of that connection then stall, their bounded inboxes
overflow into a resync, and the client gets the current state when it reads
again.
"""

import asyncio

WINDOW_MESSAGES = 64


class FlowControl:
    def __init__(self, window: int = WINDOW_MESSAGES):
        self.window = window
        self.unacknowledged = 0
        self._ping_sent_at: int | None = None
        self._pong: asyncio.Event | None = None  # made when a send first has to wait

    @property
    def would_wait(self) -> bool:
        """Whether the client is two windows behind, so that a send would wait for its pong."""
        return self.unacknowledged >= 2 * self.window

    async def before_send(self, send_ping) -> None:
        """Wait while the client is two windows behind; ask for a pong after each window."""
        while self.would_wait:
            if self._pong is None:
                self._pong = asyncio.Event()
            await self._pong.wait()
        if self.unacknowledged >= self.window and self._ping_sent_at is None:
            # The pong to this ping acknowledges every message sent before it.
            self._ping_sent_at = self.unacknowledged
            await send_ping()
        self.unacknowledged += 1

    def close(self) -> None:
        """The connection is gone: nothing waits for a pong any more."""
        self.window = float("inf")
        self._wake_senders()

    def on_pong(self) -> None:
        """The client has read everything sent before the last ping."""
        if self._ping_sent_at is not None:
            self.unacknowledged -= self._ping_sent_at
            self._ping_sent_at = None
            self._wake_senders()

    def _wake_senders(self) -> None:
        if self._pong is not None:
            self._pong.set()
            self._pong = None
