"""GraphQL over WebSocket: who is connecting (decided once at connection_init), and what a socket may cost.

Every frame is checked (api.frames) before Strawberry's protocol handlers see
it: a malformed one closes the socket with 4400, and a client that sends
more than its budget of messages and bytes, or faster than its messages are
handled, is closed with 4429 rather than buffered. (Daphne reads every frame
into memory as fast as the network brings it, far faster than they can be
handled: only closing a flooding client early bounds what it costs.)

Pings are answered and pongs counted here, so the server's own replies never
wait behind the subscriptions' flow control (api.flow_control).
Whatever ends the handler, the socket is closed and its clean-up runs.
"""

import asyncio
import json
import logging
from contextlib import suppress

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from django.conf import settings
from strawberry.channels import GraphQLWSConsumer as StrawberryGraphQLWSConsumer
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UNSET

from api import frames, metrics, shutdown
from api.address_limits import connection_attempts
from api.auth import InvalidCredentials, bearer_token, hash_token, recent_viewer, resolve_viewer
from api.budgets import Budget
from api.flow_control import CLIENT_TOO_SLOW, CLIENT_TOO_SLOW_REASON, FlowControl
from api.legacy import LegacyWSHandler
from api.open_sockets import REVOKED_CLOSE_CODE, REVOKED_REASON, Credential, open_sockets
from api.operations import TransportWSHandler, next_message
from api.proxies import scope_client_address
from submissions.small_queue import SmallQueue

logger = logging.getLogger(__name__)

REJECTED_CLOSE_CODE = 4403
MALFORMED_CLOSE_CODE = 4400
TOO_MANY_CLOSE_CODE = 4429
INIT_TIMEOUT_CLOSE_CODE = 4408
INTERNAL_ERROR_CLOSE_CODE = 4500
PING = json.dumps({"type": "ping"})


def _authorization_of(params) -> str | None:
    """The `authorization` entry of a connection_init payload, whatever the case of its key."""
    if not isinstance(params, dict):
        return None
    for key, value in params.items():
        if isinstance(key, str) and key.lower() == "authorization":
            return value
    return None


class GraphQLWSConsumer(StrawberryGraphQLWSConsumer):
    # Events reach subscriptions through the process-wide listener
    # (submissions.listener), so a connection needs no channel of its own.
    channel_layer_alias = "none"
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler
    protocol: str | None = None
    closing = False
    rejected = False
    counted = False
    flow: FlowControl | None = None
    send_budget: Budget | None = None
    credential: Credential | None = None
    _init_timer: asyncio.TimerHandle | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Strawberry only puts and gets: the same, without asyncio.Queue's deques.
        self.message_queue = SmallQueue()
        self.received_messages = Budget(
            burst=settings.WEBSOCKET_INBOUND_BURST_MESSAGES, per_second=settings.WEBSOCKET_INBOUND_MESSAGES_PER_SECOND
        )
        self.received_bytes = Budget(
            burst=settings.WEBSOCKET_INBOUND_BURST_BYTES, per_second=settings.WEBSOCKET_INBOUND_BYTES_PER_SECOND
        )

    async def dispatch(self, message) -> None:
        # Channels hops to a thread before every message to close stale
        # database connections. Most messages (pongs, subscribes) touch no
        # database; the reads a WebSocket causes (credentials, snapshots) run
        # through database_sync_to_async, which does that where they run.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            await super().dispatch(message)
        else:
            await handler(message)

    async def connect(self) -> None:
        if shutdown.shutting_down:
            await self._refuse("shutting_down")
            return
        if not connection_attempts.allow(
            scope_client_address(self.scope),
            limit=settings.WEBSOCKET_MAX_ATTEMPTS_PER_ADDRESS,
            window_seconds=settings.WEBSOCKET_ATTEMPTS_WINDOW_SECONDS,
        ):
            await self._refuse("attempts_per_address")
            return
        shutdown.track(self)
        metrics.websockets_open.inc()
        self.counted = True
        await super().connect()
        self.run_task.add_done_callback(self._handler_ended)

    async def _refuse(self, reason: str) -> None:
        metrics.websockets_rejected.labels(reason).inc()
        await self.close()  # refused before the handshake: HTTP 403

    def _handler_ended(self, task: asyncio.Task) -> None:
        # The handler ends when the socket has closed; ending before that is a
        # bug, and the socket must not stay open with nothing reading it.
        if task.cancelled() or self.closing:
            return
        if task.exception() is not None:
            logger.error("The WebSocket protocol handler failed", exc_info=task.exception())
        asyncio.ensure_future(self.close(code=INTERNAL_ERROR_CLOSE_CODE, reason="Internal error"))

    async def disconnect(self, code: int) -> None:
        self.closing = True
        self._stop_limits()
        try:
            if self.run_task is not None:
                self.message_queue.put_nowait({"message": None, "disconnected": True})
                with suppress(Exception):
                    await self.run_task
        finally:
            if self.counted:
                self.counted = False
                metrics.websockets_open.dec()
            shutdown.forget(self)

    def _stop_limits(self) -> None:
        if self._init_timer is not None:
            self._init_timer.cancel()
            self._init_timer = None
        if self.flow is not None:
            self.flow.close()  # a send waiting on a client that left must not hold up the close
        if self.credential is not None:
            open_sockets().discard(self.credential, self)
            self.credential = None

    async def reject_websocket(self, request):
        metrics.websockets_rejected.labels("origin").inc()
        return await super().reject_websocket(request)

    async def pick_websocket_subprotocol(self, request) -> str | None:
        self.protocol = await super().pick_websocket_subprotocol(request)
        if self.protocol == frames.TRANSPORT_WS:
            self.flow = FlowControl(
                stall_grace_seconds=settings.WEBSOCKET_STALL_GRACE_SECONDS, on_stalled=self._on_stalled
            )
        elif self.protocol == frames.LEGACY_WS:
            # The protocol acknowledges nothing: bound what may be sent ahead.
            self.send_budget = Budget(
                burst=settings.WEBSOCKET_LEGACY_SEND_BUFFER_BYTES,
                per_second=settings.WEBSOCKET_LEGACY_SEND_BYTES_PER_SECOND,
            )
        if self.protocol is not None:
            # Strawberry's legacy handler would wait for connection_init for ever.
            self._init_timer = asyncio.get_running_loop().call_later(
                settings.WEBSOCKET_CONNECTION_INIT_SECONDS, self._on_init_timeout
            )
        return self.protocol

    def _on_init_timeout(self) -> None:
        self._init_timer = None
        asyncio.ensure_future(self.close(code=INIT_TIMEOUT_CLOSE_CODE, reason="Connection initialisation timeout"))

    def _on_stalled(self) -> None:
        asyncio.ensure_future(self._close_too_slow())

    async def _close_too_slow(self) -> None:
        metrics.websockets_closed.labels("too_slow").inc()
        await self.close(code=CLIENT_TOO_SLOW, reason=CLIENT_TOO_SLOW_REASON)

    async def receive(self, text_data=None, bytes_data=None):
        if self.closing or self.protocol is None:
            return  # Strawberry closes a socket with no protocol it speaks
        size = len(text_data) if text_data is not None else len(bytes_data or b"")
        if not (self.received_messages.take(1) and self.received_bytes.take(size)):
            await self._close_flooding()
            return
        try:
            message = frames.parse(text_data, protocol=self.protocol, max_length=settings.WEBSOCKET_MAX_MESSAGE_LENGTH)
        except frames.MalformedFrame as error:
            metrics.websockets_closed.labels("malformed").inc()
            await self.close(code=MALFORMED_CLOSE_CODE, reason=str(error))
            return
        kind = message["type"]
        if kind == "pong":
            self.flow.on_pong()
            return
        if kind == "ping":
            await self.send_message({"type": "pong"})
            return
        if kind == "connection_init" and self._init_timer is not None:
            self._init_timer.cancel()
            self._init_timer = None
        if len(self.message_queue) >= settings.WEBSOCKET_MAX_QUEUED_MESSAGES:
            await self._close_flooding()
            return
        self.message_queue.put_nowait({"message": message, "disconnected": False})

    async def _close_flooding(self) -> None:
        metrics.websockets_closed.labels("flood").inc()
        await self.close(code=TOO_MANY_CLOSE_CODE, reason="Too many messages")

    def decode_json(self, data):
        # Frames are parsed once, when they arrive.
        return data if isinstance(data, dict) else super().decode_json(data)

    def encode_json(self, message) -> str:
        # A snapshot read once for many subscriptions of one document carries
        # the same result object to each (api.execution): encode it once.
        if isinstance(message, dict) and message.get("type") == "next":
            payload = message.get("payload")
            if isinstance(payload, dict) and payload.keys() == {"data"} and isinstance(payload["data"], dict):
                return next_message(message["id"], payload["data"])
        return super().encode_json(message)

    async def send_message(self, message: dict) -> None:
        """Send a protocol message; only subscription results are held back by flow control."""
        await self.send_text(self.encode_json(message), result=message.get("type") in ("next", "data"))

    async def send_text(self, text: str, *, result: bool) -> bool:
        """Send an encoded message; False if the socket is closing (or was closed for being too far behind)."""
        if self.closing:
            return False
        if self.flow is not None:
            if not await self.flow.before_send(self._send_ping, result=result):
                if not self.closing:
                    await self._close_too_slow()
                return False
        elif self.send_budget is not None and result and not self.send_budget.take(len(text)):
            await self._close_too_slow()
            return False
        await self.send(text_data=text)
        return True

    async def _send_ping(self) -> None:
        await self.send(text_data=PING)

    async def get_context(self, request, response) -> dict:
        return {"request": request, "ws": request, "viewer": None}

    async def on_ws_connect(self, context):
        authorization = _authorization_of(context.get("connection_params"))
        if authorization is None:
            headers = dict(self.scope["headers"])
            authorization = headers.get(b"authorization", b"").decode("latin1") or None
        # A thousand connections opened with one token need no thread each.
        viewer = recent_viewer(authorization=authorization)
        if viewer is None:
            try:
                viewer = await database_sync_to_async(resolve_viewer)(
                    authorization=authorization, session_user=self.scope.get("user")
                )
            except InvalidCredentials as error:
                raise self._rejection(str(error)) from None
        if viewer is None:
            raise self._rejection("Send 'authorization': 'Bearer <token>' in the connection_init payload, or sign in.")
        credential = self._credential_of(authorization, viewer)
        if credential is not None:
            if not open_sockets().add(credential, self):
                metrics.websockets_rejected.labels("connections_per_credential").inc()
                limit = settings.WEBSOCKET_MAX_CONNECTIONS_PER_CREDENTIAL
                await self.close(code=TOO_MANY_CLOSE_CODE, reason=f"These credentials hold {limit} connections already")
                raise ConnectionRejectionError()
            self.credential = credential
        context["viewer"] = viewer
        return UNSET

    def _credential_of(self, authorization: str | None, viewer) -> Credential | None:
        token = bearer_token(authorization) if isinstance(authorization, str) else None
        if token is not None:
            return Credential(kind="token", key=hash_token(token), viewer=viewer)
        session = self.scope.get("session")
        session_key = getattr(session, "session_key", None)
        return Credential(kind="session", key=session_key, viewer=viewer) if session_key else None

    def _rejection(self, message: str) -> ConnectionRejectionError:
        self.rejected = True
        metrics.websockets_rejected.labels("unauthenticated").inc()
        return ConnectionRejectionError({"message": message, "extensions": {"code": "UNAUTHENTICATED"}})

    async def revoke(self) -> None:
        """Its credentials no longer hold (api.open_sockets): close, as a rejected connection is closed."""
        self.credential = None  # already forgotten by the registry
        metrics.websockets_closed.labels("revoked").inc()
        await self.close(code=REVOKED_CLOSE_CODE, reason=REVOKED_REASON)

    async def close(self, code=None, reason=None):
        if self.closing:
            return
        self.closing = True
        self._stop_limits()
        # Both protocols close a rejected connection with 4403 (Strawberry's
        # legacy graphql-ws handler would use 1011).
        if self.rejected:
            code = REJECTED_CLOSE_CODE
        await super().close(code=code, reason=reason)
