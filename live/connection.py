"""One GraphQL WebSocket connection, in either protocol: an ASGI application on public APIs only.

    websocket.connect -> admitted (shutdown, attempts per address, Origin), accepted with a subprotocol
    frame -> budgets (messages, bytes; 4429) -> live.frames.parse (4400) -> one of:
      connection_init  -> credentials (4403), connections per credential (4429) -> connection_ack
      ping / pong      -> pong / flow control (live.flow)
      subscribe/start  -> schema.stream: a query or mutation's result, then `complete`;
                          a subscription is handed to its group (live.groups)
      complete/stop    -> the operation ends
    websocket.disconnect -> every operation ends, limits and registries forget the connection

Frames are handled as they arrive, so a client that floods is refused by
its budgets rather than buffered; the server's own replies never wait for
flow control, so reading goes on while results are held back.
"""

import asyncio
import json
import logging

from channels.db import database_sync_to_async
from django.conf import settings
from django.http.cookie import parse_cookie
from strawberry.http.websocket_origin import is_same_origin, normalize_allowed_origins, normalize_origin

from api import metrics, shutdown
from api.address_limits import connection_attempts
from api.auth import InvalidCredentials, recent_viewer, resolve_viewer, session_user
from api.errors import operation_limit_error
from api.open_sockets import REVOKED_CLOSE_CODE, REVOKED_REASON, Credential, credential_of, open_sockets
from api.proxies import scope_client_address
from live import frames, operations
from live.budgets import Budget
from live.flow import CLIENT_TOO_SLOW, CLIENT_TOO_SLOW_REASON, FlowControl
from live.protocol import LEGACY_WS, PROTOCOLS, TRANSPORT_WS, Protocol

logger = logging.getLogger(__name__)

MALFORMED = 4400
UNAUTHORIZED = 4401
FORBIDDEN = 4403
SUBPROTOCOL_NOT_ACCEPTABLE = 4406
INIT_TIMEOUT = 4408
ALREADY_SUBSCRIBED = 4409
TOO_MANY = 4429
PING = json.dumps({"type": "ping"})
# A close reason is at most 123 bytes of UTF-8.
MAX_CLOSE_REASON = 120


class GraphQLWebSocket:
    """The ASGI application for GraphQL over WebSocket on one schema."""

    def __init__(self, schema):
        self.schema = schema

    async def __call__(self, scope, receive, send) -> None:
        await Connection(self.schema, scope, receive, send).run()


class _Rejected(Exception):
    """connection_init carried no credentials that hold; the message says what to send."""


class Operation:
    """One operation of a connection; a subscription is a member of its group (live.groups.Subscriber)."""

    __slots__ = ("_result_prefix", "connection", "group", "id", "task")

    def __init__(self, connection: "Connection", operation_id: str):
        self.connection = connection
        self.id = operation_id
        # Every result of the operation starts alike: written once, not per result.
        self._result_prefix = connection.protocol.result_prefix(operation_id)
        self.task: asyncio.Task | None = None
        self.group = None

    @property
    def viewer(self):
        return self.connection.viewer

    @property
    def is_open(self) -> bool:
        return not self.connection.closing and self.connection.operations.get(self.id) is self

    def can_send_now(self) -> bool:
        return self.is_open and self.connection.can_send_result()

    async def writable(self) -> bool:
        return await self.connection.writable() and self.is_open

    async def send_result(self, payload: str) -> bool:
        if not self.is_open:
            return False
        return await self.connection.send_text(f"{self._result_prefix}{payload}}}", result=True)

    async def complete(self) -> None:
        if self.is_open:
            del self.connection.operations[self.id]
            self.end()
            await self.connection.send_message(Protocol.complete_message(self.id))

    async def fail(self, error: Exception) -> None:
        # As Strawberry does when a stream fails: the error (masked and logged), then `complete`.
        logger.error("A WebSocket operation failed", exc_info=error)
        await self.send_result(operations.masked_error_payload(error))
        await self.complete()

    def end(self) -> None:
        """Stop the operation: its task, its place in its group."""
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()
        if self.group is not None:
            self.group.remove(self)
            self.group = None


class Connection:
    __slots__ = (
        "__weakref__",  # api.shutdown keeps a weak set of open connections
        "_init_timer",
        "_receive",
        "_send",
        "acknowledged",
        "closing",
        "counted",
        "credential",
        "flow",
        "init_received",
        "operations",
        "protocol",
        "received_bytes",
        "received_messages",
        "schema",
        "scope",
        "send_budget",
        "viewer",
    )

    def __init__(self, schema, scope, receive, send):
        self.schema = schema
        self.scope = scope
        self._receive = receive
        self._send = send
        self.protocol: Protocol | None = None
        self.viewer = None
        self.credential: Credential | None = None
        self.operations: dict[str, Operation] = {}
        self.closing = False
        self.counted = False
        self.init_received = False
        self.acknowledged = False
        self.flow: FlowControl | None = None
        self.send_budget: Budget | None = None
        self._init_timer: asyncio.TimerHandle | None = None
        self.received_messages = Budget(
            burst=settings.WEBSOCKET_INBOUND_BURST_MESSAGES, per_second=settings.WEBSOCKET_INBOUND_MESSAGES_PER_SECOND
        )
        self.received_bytes = Budget(
            burst=settings.WEBSOCKET_INBOUND_BURST_BYTES, per_second=settings.WEBSOCKET_INBOUND_BYTES_PER_SECOND
        )

    async def run(self) -> None:
        if (await self._receive())["type"] != "websocket.connect" or not await self._admit():
            return
        try:
            while (message := await self._receive())["type"] != "websocket.disconnect":
                if message["type"] == "websocket.receive":
                    await self._on_frame(message.get("text"), message.get("bytes"))
        finally:
            self._forget()

    # Admission, before the handshake.

    async def _admit(self) -> bool:
        if shutdown.shutting_down:
            return await self._refuse("shutting_down")
        if not connection_attempts.allow(
            scope_client_address(self.scope),
            limit=settings.WEBSOCKET_MAX_ATTEMPTS_PER_ADDRESS,
            window_seconds=settings.WEBSOCKET_ATTEMPTS_WINDOW_SECONDS,
        ):
            return await self._refuse("attempts_per_address")
        if not self._origin_allowed():
            return await self._refuse("origin")
        offered = self.scope.get("subprotocols") or ()
        self.protocol = next((PROTOCOLS[name] for name in offered if name in PROTOCOLS), None)
        await self._send({"type": "websocket.accept", "subprotocol": self.protocol and self.protocol.name})
        shutdown.track(self)
        metrics.websockets_open.inc()
        self.counted = True
        if self.protocol is None:
            await self.close(SUBPROTOCOL_NOT_ACCEPTABLE, "Subprotocol not acceptable")
            return True
        if self.protocol.acknowledged:
            self.flow = FlowControl(
                stall_grace_seconds=settings.WEBSOCKET_STALL_GRACE_SECONDS, on_stalled=self._stalled
            )
        else:
            # The protocol acknowledges nothing: bound what may be sent ahead.
            self.send_budget = Budget(
                burst=settings.WEBSOCKET_LEGACY_SEND_BUFFER_BYTES,
                per_second=settings.WEBSOCKET_LEGACY_SEND_BYTES_PER_SECOND,
            )
        self._init_timer = asyncio.get_running_loop().call_later(
            settings.WEBSOCKET_CONNECTION_INIT_SECONDS, self._init_timed_out
        )
        return True

    async def _refuse(self, reason: str) -> bool:
        metrics.websockets_rejected.labels(reason).inc()
        await self._send({"type": "websocket.close"})  # before the handshake: HTTP 403
        return False

    def _origin_allowed(self) -> bool:
        # Browsers always send Origin: a page on another site must not ride
        # the user's session cookie. Clients without one (services) may connect.
        headers = {name.decode("latin1").lower(): value.decode("latin1") for name, value in self.scope["headers"]}
        origin = headers.get("origin")
        if (
            origin is None
            or headers.get("sec-fetch-site") == "same-origin"
            or is_same_origin(origin, headers.get("host"))
        ):
            return True
        allowed = normalize_allowed_origins(settings.WEBSOCKET_ALLOWED_ORIGINS)
        return "*" in allowed or normalize_origin(origin) in allowed

    # Frames.

    async def _on_frame(self, text: str | None, data: bytes | None) -> None:
        if self.closing or self.protocol is None:
            return
        size = len(text) if text is not None else len(data or b"")
        if not (self.received_messages.take(1) and self.received_bytes.take(size)):
            metrics.websockets_closed.labels("flood").inc()
            await self.close(TOO_MANY, "Too many messages")
            return
        try:
            message = frames.parse(text, protocol=self.protocol.name, max_length=settings.WEBSOCKET_MAX_MESSAGE_LENGTH)
        except frames.MalformedFrame as error:
            metrics.websockets_closed.labels("malformed").inc()
            await self.close(MALFORMED, str(error))
            return
        kind = message["type"]
        if kind == "pong":
            self.flow.on_pong()
        elif kind == "ping":
            await self.send_message({"type": "pong"})
        elif kind == "connection_init":
            await self._on_init(message.get("payload") or {})
        elif kind == self.protocol.start:
            await self._on_start(message["id"], message["payload"])
        elif kind == self.protocol.stop:
            await self._on_stop(message["id"])
        elif kind == "connection_terminate":
            await self.close(1000)

    async def _on_init(self, payload: dict) -> None:
        if self.init_received:
            await self.close(TOO_MANY, "Too many initialisation requests")
            return
        self.init_received = True
        self._cancel_init_timer()
        authorization = self._authorization(payload)
        session_key = None if authorization else self._session_key()
        try:
            viewer = await self._authenticate(authorization, session_key)
        except _Rejected as rejection:
            metrics.websockets_rejected.labels("unauthenticated").inc()
            error = {"message": str(rejection), "extensions": {"code": "UNAUTHENTICATED"}}
            if self.protocol is LEGACY_WS:
                await self.send_message({"type": "connection_error", "payload": error})
            await self.close(FORBIDDEN, str(rejection))
            return
        credential = credential_of(authorization, session_key, viewer)
        if credential is not None:
            if not open_sockets().add(credential, self):
                metrics.websockets_rejected.labels("connections_per_credential").inc()
                limit = settings.WEBSOCKET_MAX_CONNECTIONS_PER_CREDENTIAL
                await self.close(TOO_MANY, f"These credentials hold {limit} connections already")
                return
            self.credential = credential
        self.viewer = viewer
        self.acknowledged = True
        await self.send_message({"type": "connection_ack"})

    def _session_key(self) -> str | None:
        cookies = dict(self.scope["headers"]).get(b"cookie")
        return parse_cookie(cookies.decode("latin1")).get(settings.SESSION_COOKIE_NAME) if cookies else None

    def _authorization(self, payload: dict):
        """The connection_init payload's `authorization`, else the upgrade request's Authorization header."""
        authorization = _authorization_of(payload)
        if authorization is None:
            authorization = dict(self.scope["headers"]).get(b"authorization", b"").decode("latin1") or None
        return authorization

    async def _authenticate(self, authorization, session_key: str | None):
        # A thousand connections opened with one token need no thread each.
        viewer = recent_viewer(authorization=authorization)
        if viewer is None:
            try:  # database_sync_to_async: it closes stale connections where the read runs
                viewer = await database_sync_to_async(_viewer_of)(authorization=authorization, session_key=session_key)
            except InvalidCredentials as error:
                raise _Rejected(str(error)) from None
        if viewer is None:
            raise _Rejected("Send 'authorization': 'Bearer <token>' in the connection_init payload, or sign in.")
        return viewer

    async def _on_start(self, operation_id: str, payload: dict) -> None:
        if not self.acknowledged:
            await self.close(UNAUTHORIZED, "Unauthorized")
            return
        if operation_id in self.operations:
            if self.protocol is TRANSPORT_WS:
                await self.close(ALREADY_SUBSCRIBED, f"Subscriber for {operation_id[:64]} already exists")
                return
            self.operations.pop(operation_id).end()  # a legacy client's new start replaces the old one
        if len(self.operations) >= settings.WEBSOCKET_MAX_OPERATIONS_PER_CONNECTION:
            await self.send_message(self.protocol.error_message(operation_id, [operation_limit_error()]))
            return
        operation = self.operations[operation_id] = Operation(self, operation_id)
        operation.task = asyncio.get_running_loop().create_task(self._run_operation(operation, payload))

    async def _on_stop(self, operation_id: str) -> None:
        operation = self.operations.pop(operation_id, None)
        if operation is None:
            return
        operation.end()
        if self.protocol.stop_is_acknowledged:
            await self.send_message(Protocol.complete_message(operation_id))

    # Operations.

    async def _run_operation(self, operation: Operation, payload: dict) -> None:
        query, variables, operation_name = payload["query"], payload.get("variables"), payload.get("operationName")
        context = {"request": self, "ws": self, "viewer": self.viewer}
        try:
            await operations.run(
                self.schema,
                operation,
                query=query,
                variables=variables,
                operation_name=operation_name,
                context=context,
                send_result=operation.send_result,
            )
        except operations.Refused as refusal:
            self.operations.pop(operation.id, None)
            await self.send_message(self.protocol.error_message(operation.id, refusal.errors))
        except asyncio.CancelledError:
            raise
        except Exception as error:
            await operation.fail(error)
        finally:
            operation.task = None

    # Sending.

    def can_send_result(self) -> bool:
        return not self.closing and (self.flow is None or not self.flow.would_wait)

    async def writable(self) -> bool:
        if self.flow is None:
            return not self.closing
        return await self.flow.writable() and not self.closing

    async def send_message(self, message: dict) -> None:
        """Send a protocol message that is not a result: it never waits for flow control."""
        await self.send_text(json.dumps(message, separators=(",", ":")), result=False)

    async def send_text(self, text: str, *, result: bool) -> bool:
        """Send an encoded message; False if the connection is closing (or was closed for being too slow)."""
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
        return await self._send_frame(text)

    async def _send_ping(self) -> None:
        await self._send_frame(PING)

    async def _send_frame(self, text: str) -> bool:
        try:
            await self._send({"type": "websocket.send", "text": text})
        except (OSError, RuntimeError):  # the client left; its disconnect is on the way
            self.closing = True
            self._stop_operations()
            return False
        return True

    # Closing.

    def _init_timed_out(self) -> None:
        self._init_timer = None
        asyncio.ensure_future(self.close(INIT_TIMEOUT, "Connection initialisation timeout"))

    def _stalled(self) -> None:
        asyncio.ensure_future(self._close_too_slow())

    async def _close_too_slow(self) -> None:
        metrics.websockets_closed.labels("too_slow").inc()
        await self.close(CLIENT_TOO_SLOW, CLIENT_TOO_SLOW_REASON)

    async def revoke(self) -> None:
        """Its credentials no longer hold (api.open_sockets)."""
        self.credential = None  # already forgotten by the registry
        metrics.websockets_closed.labels("revoked").inc()
        await self.close(REVOKED_CLOSE_CODE, REVOKED_REASON)

    async def close(self, code: int | None = None, reason: str = "") -> None:
        if self.closing:
            return
        self.closing = True
        self._stop_operations()
        reason = reason.encode()[:MAX_CLOSE_REASON].decode(errors="ignore")
        try:
            await self._send({"type": "websocket.close", "code": code or 1000, "reason": reason})
        except (OSError, RuntimeError):
            pass

    def _cancel_init_timer(self) -> None:
        if self._init_timer is not None:
            self._init_timer.cancel()
            self._init_timer = None

    def _stop_operations(self) -> None:
        self._cancel_init_timer()
        if self.flow is not None:
            self.flow.close()  # a send waiting on a client that left must not hold up the close
        if self.credential is not None:
            open_sockets().discard(self.credential, self)
            self.credential = None
        operations, self.operations = self.operations, {}
        for operation in operations.values():
            operation.end()

    def _forget(self) -> None:
        self.closing = True
        self._stop_operations()
        if self.counted:
            self.counted = False
            metrics.websockets_open.dec()
        shutdown.forget(self)


def _viewer_of(*, authorization: str | None, session_key: str | None):
    return resolve_viewer(authorization=authorization, session_user=session_user(session_key))


def _authorization_of(params) -> str | None:
    """The `authorization` entry of a connection_init payload, whatever the case of its key."""
    if not isinstance(params, dict):
        return None
    for key, value in params.items():
        if isinstance(key, str) and key.lower() == "authorization":
            return value
    return None
