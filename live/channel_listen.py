"""`listen_to_channel` for subscriptions that follow a channel-layer group of their own.

Strawberry's Channels consumers offer `ws.listen_to_channel(type, groups=...)`
to subscription resolvers; live.operations puts the same in the context of
every operation, as `listen_to_channel`, on WebSocket and HTTP alike. It
serves low-volume feeds (each subscription has a channel of its own), not
submissionStatus, whose events go through the per-process listener.
"""

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import InMemoryChannelLayer, channel_layers, get_channel_layer

logger = logging.getLogger(__name__)

_layers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, object]" = weakref.WeakKeyDictionary()


def _layer():
    shared = get_channel_layer()
    if isinstance(shared, InMemoryChannelLayer):
        return shared  # one process, and its publishers send to this very instance
    # A layer instance of their own: ending a subscription cancels its
    # receive(), and on channels-redis a receive cancelled while it holds the
    # process's blocking pop can lose a message popped for another channel of
    # the same instance (channels_redis issue 366): never one of the listener's.
    loop = asyncio.get_running_loop()
    if loop not in _layers:
        _layers[loop] = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
    return _layers[loop]


@asynccontextmanager
async def listen_to_channel(
    type: str, *, timeout: float | None = None, groups: Sequence[str] = ()
) -> AsyncIterator[AsyncIterator[dict]]:
    """The messages of `type` sent to `groups`, from the moment the groups are joined (before this yields).

    Code between entering and the first iteration may read a snapshot: a
    message sent after the read cannot be missed. With `timeout`, iteration
    ends after that many seconds without a message.
    """
    layer = _layer()
    channel = await layer.new_channel(prefix="listen")
    for group in groups:
        await layer.group_add(group, channel)

    async def messages() -> AsyncIterator[dict]:
        while True:
            try:
                message = await asyncio.wait_for(layer.receive(channel), timeout)
            except TimeoutError:
                return
            if message.get("type") == type:
                yield message

    try:
        yield messages()
    finally:
        for group in groups:
            try:
                await layer.group_discard(group, channel)
            except Exception:  # the layer forgets members after its group expiry anyway
                logger.warning("Leaving channel-layer group %s failed", group, exc_info=True)
