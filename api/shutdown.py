"""Graceful shutdown under daphne.

Daphne stops on SIGTERM by dropping every connection, which clients see as a
network failure (1006). Instead, on the first SIGTERM this process refuses new
WebSockets, closes the open ones with 1001 (Going Away) so that clients
reconnect to another process at once, waits for them to go (bounded), and then lets
daphne stop. A second SIGTERM stops at once.
"""

import asyncio
import logging
import signal
import sys
import weakref

logger = logging.getLogger(__name__)

GOING_AWAY = 1001
DRAIN_TIMEOUT_SECONDS = 10.0

_open_sockets: "weakref.WeakSet" = weakref.WeakSet()
_all_closed: asyncio.Event | None = None
_installed = False
shutting_down = False


def track(consumer) -> None:
    """Remember an open WebSocket consumer, so that shutdown can close it."""
    _install()
    _open_sockets.add(consumer)


def forget(consumer) -> None:
    _open_sockets.discard(consumer)
    if shutting_down and not _open_sockets and _all_closed is not None:
        _all_closed.set()


def _install() -> None:
    global _installed
    reactor = _running_reactor()
    if _installed or reactor is None:
        return
    _installed = True
    _allow_going_away()
    loop = asyncio.get_running_loop()
    stop_now = signal.getsignal(signal.SIGTERM)

    def on_sigterm(number, frame):
        if shutting_down and callable(stop_now):
            stop_now(number, frame)
        else:
            loop.call_soon_threadsafe(lambda: asyncio.ensure_future(_drain_then_stop(reactor)))

    signal.signal(signal.SIGTERM, on_sigterm)


def _allow_going_away() -> None:
    # Daphne's WebSocket library (autobahn) lets an application close only
    # with 1000 or 3000-4999, but 1001 is the code that says "this server is
    # going away": graphql-ws clients reconnect on it. Let 1001 through, as
    # the close frame it is, and leave every other code to daphne.
    from daphne.ws_protocol import WebSocketProtocol

    close = WebSocketProtocol.serverClose

    def server_close(self, code=None):
        if code == GOING_AWAY:
            self.sendCloseFrame(code=GOING_AWAY, reasonUtf8=b"server shutting down", isReply=False)
        else:
            close(self, code)

    WebSocketProtocol.serverClose = server_close


def _running_reactor():
    # Only daphne runs us inside Twisted; elsewhere the server handles signals.
    if "twisted.internet.reactor" not in sys.modules:
        return None
    from twisted.internet import reactor

    return reactor if reactor.running else None


async def _drain_then_stop(reactor) -> None:
    global shutting_down, _all_closed
    shutting_down = True
    _all_closed = asyncio.Event()
    sockets = list(_open_sockets)
    logger.info("SIGTERM: closing %d WebSockets with %d before stopping", len(sockets), GOING_AWAY)
    for consumer in sockets:
        await consumer.close(code=GOING_AWAY)
    if sockets:
        try:
            await asyncio.wait_for(_all_closed.wait(), DRAIN_TIMEOUT_SECONDS)
        except TimeoutError:
            logger.warning(
                "%d WebSockets still open after %ss; stopping anyway", len(_open_sockets), DRAIN_TIMEOUT_SECONDS
            )
    reactor.stop()
