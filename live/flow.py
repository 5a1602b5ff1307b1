"""Flow control: a client that stops reading stops receiving, and is closed if it does not resume.

Neither daphne nor uvicorn tells the application how much of what it sent
is still unread: both buffer every message until the socket drains, so a
client that stops reading would make the server's memory grow without limit.

graphql-transport-ws gives an acknowledgement: after `window` messages the
server sends a ping, and a client that has read up to that ping answers with
a pong. Past two windows without an answer, subscription results wait (their
bounded inboxes overflow into a resync, so the client gets the current state
when it reads again) and a grace period starts; a client still two windows
behind when it ends is closed with CLIENT_TOO_SLOW, so that it reconnects and
resumes from a snapshot rather than stalling silently. The server's own
replies (pongs, acks, errors) never wait, so reading goes on; a client that
lets them pile up past four windows is closed at once.

The legacy graphql-ws protocol has no acknowledgement at all: a connection
may be sent at most a burst ahead of a nominal reading rate (live.budgets),
and is closed past that.
"""

import asyncio
from collections.abc import Awaitable, Callable

# A close code of the private range, which graphql-ws clients treat as
# retryable: they reconnect, and resubscribing starts from a snapshot.
CLIENT_TOO_SLOW = 4013
CLIENT_TOO_SLOW_REASON = "Too far behind: reconnect to resume from a snapshot"

WINDOW_MESSAGES = 64
# Replies never wait; this many windows unread means the client is not reading them.
MAX_WINDOWS_UNREAD = 4


class FlowControl:
    """Acknowledged sending for graphql-transport-ws; `on_stalled` is called once the grace period runs out."""

    __slots__ = (
        "_ping_sent_at",
        "_pong",
        "_stall_timer",
        "closed",
        "on_stalled",
        "stall_grace_seconds",
        "unacknowledged",
        "window",
    )

    def __init__(self, *, stall_grace_seconds: float, on_stalled: Callable[[], None], window: int = WINDOW_MESSAGES):
        self.window = window
        self.stall_grace_seconds = stall_grace_seconds
        self.on_stalled = on_stalled
        self.unacknowledged = 0
        self._ping_sent_at: int | None = None
        self._pong: asyncio.Event | None = None  # made when a send first has to wait
        self._stall_timer: asyncio.TimerHandle | None = None
        self.closed = False

    @property
    def would_wait(self) -> bool:
        """Whether the client is two windows behind, so that a result would wait for its pong."""
        return self.unacknowledged >= 2 * self.window

    async def before_send(self, send_ping: Callable[[], Awaitable[None]], *, result: bool) -> bool:
        """Account for one message about to be sent; False if the connection must be closed instead.

        A subscription result (`result`) waits while the client is two
        windows behind; any other message is sent at once.
        """
        if result:
            await self.writable()
        if self.closed or self.unacknowledged >= MAX_WINDOWS_UNREAD * self.window:
            return False
        if self.unacknowledged >= self.window and self._ping_sent_at is None:
            # The pong to this ping acknowledges every message sent before it.
            self._ping_sent_at = self.unacknowledged
            self.unacknowledged += 1
            await send_ping()
        self.unacknowledged += 1
        if self.would_wait and self._stall_timer is None:
            self._stall_timer = asyncio.get_running_loop().call_later(self.stall_grace_seconds, self._stalled)
        return True

    async def writable(self) -> bool:
        """Wait until a result would be sent at once; False if the connection closed meanwhile."""
        while self.would_wait and not self.closed:
            if self._pong is None:
                self._pong = asyncio.Event()
            await self._pong.wait()
        return not self.closed

    def on_pong(self) -> None:
        """The client has read everything sent before the last ping."""
        if self._ping_sent_at is not None:
            self.unacknowledged -= self._ping_sent_at
            self._ping_sent_at = None
            if not self.would_wait:
                self._cancel_stall_timer()
            self._wake_senders()

    def close(self) -> None:
        """The connection is closing: nothing waits any more."""
        self.closed = True
        self._cancel_stall_timer()
        self._wake_senders()

    def _stalled(self) -> None:
        self._stall_timer = None
        if self.would_wait and not self.closed:
            self.on_stalled()

    def _cancel_stall_timer(self) -> None:
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None

    def _wake_senders(self) -> None:
        if self._pong is not None:
            self._pong.set()
            self._pong = None
