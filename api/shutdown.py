"""Graceful shutdown (api.uvicorn_server calls `drain`; under daphne it is installed here).

Daphne stops on SIGTERM by dropping every connection, which clients see as a
network failure (1006), and uvicorn closes them with 1012: either way
graphql-ws clients wait seconds before they try again. Instead, on the first
SIGTERM this process refuses new WebSockets and
answers /readyz with 503, closes the open ones with 1000, on which graphql-ws
clients with subscriptions reconnect at once (to another process, through
the load balancer), waits for them to go (bounded), and then lets the
server stop. A second SIGTERM stops at once.
"""

import asyncio
import logging
import signal
import sys
import weakref

logger = logging.getLogger(__name__)

CLOSE_CODE = 1000
CLOSE_REASON = "Server shutting down: reconnect"
DRAIN_TIMEOUT_SECONDS = 10.0

_open_sockets: "weakref.WeakSet" = weakref.WeakSet()
_all_closed: asyncio.Event | None = None
_installed = False
shutting_down = False


def track(connection) -> None:
    """Remember an open WebSocket connection, so that shutdown can close it."""
    _install()
    _open_sockets.add(connection)


def forget(connection) -> None:
    _open_sockets.discard(connection)
    if shutting_down and not _open_sockets and _all_closed is not None:
        _all_closed.set()


def _install() -> None:
    global _installed
    reactor = _running_reactor()
    if _installed or reactor is None:
        return
    _installed = True
    loop = asyncio.get_running_loop()
    stop_now = signal.getsignal(signal.SIGTERM)

    def on_sigterm(number, frame):
        if shutting_down and callable(stop_now):
            stop_now(number, frame)
        else:
            loop.call_soon_threadsafe(lambda: asyncio.ensure_future(_drain_then_stop(reactor)))

    signal.signal(signal.SIGTERM, on_sigterm)


def _running_reactor():
    # Only daphne runs us inside Twisted; elsewhere the server handles signals.
    if "twisted.internet.reactor" not in sys.modules:
        return None
    from twisted.internet import reactor

    return reactor if reactor.running else None


async def _drain_then_stop(reactor) -> None:
    await drain()
    reactor.stop()


async def drain() -> None:
    """Refuse new WebSockets (and answer /readyz 503), close the open ones with 1000, wait for them (bounded)."""
    global shutting_down, _all_closed
    shutting_down = True
    _all_closed = asyncio.Event()
    sockets = list(_open_sockets)
    logger.info("SIGTERM: closing %d WebSockets with %d before stopping", len(sockets), CLOSE_CODE)
    for connection in sockets:
        await connection.close(CLOSE_CODE, CLOSE_REASON)
    if sockets:
        try:
            await asyncio.wait_for(_all_closed.wait(), DRAIN_TIMEOUT_SECONDS)
        except TimeoutError:
            logger.warning(
                "%d WebSockets still open after %ss; stopping anyway", len(_open_sockets), DRAIN_TIMEOUT_SECONDS
            )
