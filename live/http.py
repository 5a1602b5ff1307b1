"""GraphQL subscriptions over HTTP, for clients and networks without WebSockets.

One stream of results, in either framing, chosen by the request's Accept:

    multipart/mixed;subscriptionSpec=1.0   Apollo's multipart subscription protocol (Apollo Client, urql):
                                           a part {"payload": result} per result, {} heartbeats, --graphql--
    text/event-stream                      graphql-sse's distinct connections mode (Server-Sent Events):
                                           `event: next` per result, comment heartbeats, `event: complete`

api.views hands a request here once it has passed the HTTP checks (method,
body, CSRF, credentials). The operation runs as on a WebSocket
(live.operations): a subscription becomes a member of its group (live.groups),
which sends the snapshot, then each change in version order, and completes
the stream when the submission is deleted.

Flow control: Django's ASGI handler takes the next chunk only once the
server has taken the previous one, and uvicorn's `send` waits while the
socket's send buffer is full. So a client that stops reading leaves results
in a small outbox; past it, its group holds results back and catches it up
later (from the group's history, or a snapshot), and a client still behind
after the stall grace is cut off. Under a server whose `send` does not wait
(daphne; api.servers.send_waits_for_client), a send budget bounds what may
be sent ahead of a nominal reading rate, as on the legacy WebSocket
protocol; under uvicorn a client that reads, however slowly, is never cut
off by it.
"""

import asyncio
import json
import logging
from collections import deque
from dataclasses import dataclass

from django.conf import settings
from strawberry.http.parse_content_type import parse_content_type

from api import metrics, servers, shutdown
from api.address_limits import connection_attempts
from api.open_sockets import REVOKED_REASON, Credential, open_sockets
from live import operations
from live.budgets import Budget
from live.flow import CLIENT_TOO_SLOW_REASON
from live.protocol import encode_payload

logger = logging.getLogger(__name__)

# Results a stream holds while the server is still sending earlier ones; past
# this its group holds results back and catches it up once it reads again.
OUTBOX_RESULTS = 16
# The codes of the errors that end a stream early: the client should subscribe
# again (it starts from a snapshot), or, for access, sign in again.
CLIENT_TOO_SLOW_CODE = "CLIENT_TOO_SLOW"
SHUTTING_DOWN_CODE = "SERVER_SHUTTING_DOWN"
REVOKED_CODE = "UNAUTHENTICATED"
MULTIPART_BOUNDARY = "graphql"
# What a client without the right Accept is told (api.views answers 406 with it).
STREAM_ACCEPT_HINT = (
    "send it with 'Accept: multipart/mixed;subscriptionSpec=1.0' (Apollo Client, urql) or "
    "'Accept: text/event-stream' (graphql-sse, curl), or over WebSocket at /graphql/ "
    "(graphql-transport-ws, or the legacy graphql-ws)"
)


@dataclass(frozen=True)
class Framing:
    """How one protocol writes a stream of results."""

    name: str
    content_type: str
    opening: str  # written first
    heartbeat_before_first_result: bool  # urql fails on a multipart heartbeat that comes before any result

    def result(self, payload: str) -> str:
        raise NotImplementedError

    def heartbeat(self) -> str:
        raise NotImplementedError

    def complete(self) -> str:
        raise NotImplementedError

    def ended_early(self, error: dict, *, resubscribe: bool) -> str:
        """The stream ends before its operation did: `error` says why; `resubscribe` if the client should."""
        raise NotImplementedError


class Multipart(Framing):
    """Apollo's multipart HTTP protocol for GraphQL subscriptions."""

    def _part(self, body: str) -> str:
        return f"\r\nContent-Type: application/json; charset=utf-8\r\n\r\n{body}\r\n--{MULTIPART_BOUNDARY}"

    def result(self, payload: str) -> str:
        return self._part(f'{{"payload":{payload}}}')

    def heartbeat(self) -> str:
        return self._part("{}")

    def complete(self) -> str:
        return "--\r\n"

    def ended_early(self, error: dict, *, resubscribe: bool) -> str:
        # The protocol's transport-level error: no payload, top-level errors, then the end.
        return self._part(json.dumps({"payload": None, "errors": [error]}, separators=(",", ":"))) + self.complete()


class ServerSentEvents(Framing):
    """graphql-sse's distinct connections mode. Lines end with a bare LF: urql splits events on "\\n\\n"."""

    def result(self, payload: str) -> str:
        return f"event: next\ndata: {payload}\n\n"

    def heartbeat(self) -> str:
        return ":\n\n"

    def complete(self) -> str:
        return "event: complete\ndata:\n\n"

    def ended_early(self, error: dict, *, resubscribe: bool) -> str:
        # graphql-sse clients retry a stream that ends without `complete`.
        errors = self.result(encode_payload(None, [error]))
        return errors if resubscribe else errors + self.complete()


MULTIPART = Multipart(
    name="multipart",
    content_type=f'multipart/mixed;boundary="{MULTIPART_BOUNDARY}";subscriptionSpec="1.0"',
    opening=f"--{MULTIPART_BOUNDARY}",
    heartbeat_before_first_result=False,
)
SSE = ServerSentEvents(
    name="sse", content_type="text/event-stream; charset=utf-8", opening="", heartbeat_before_first_result=True
)
# Asked for by these media types, whatever their order in Accept.
_JSON_OR_PAGE = {"application/json", "application/graphql-response+json", "text/html", "*/*", "application/*"}


def framing_for(accept: str) -> Framing | None:
    """The stream framing an Accept header prefers, or None if it prefers a plain JSON response (or a page).

    Ranges count in order of their `q`, then as written: urql sends
    `text/event-stream, multipart/mixed` for subscriptions and gets SSE;
    Apollo Client sends `multipart/mixed;boundary=graphql;subscriptionSpec=1.0,application/json`.
    A multipart range for @defer (`deferSpec`) is not ours.
    """
    ranges = []
    for position, media_range in enumerate(accept.split(",")):
        media_type, params = parse_content_type(media_range)
        try:
            quality = float(params.get("q", "1"))
        except ValueError:
            quality = 1.0
        if quality > 0:
            ranges.append((-quality, position, media_type, params))
    for _, _, media_type, params in sorted(ranges):
        if media_type == "text/event-stream":
            return SSE
        if media_type == "multipart/mixed" and "deferspec" not in params:
            return MULTIPART
        if media_type in _JSON_OR_PAGE:
            return None
    return None


class Refused(Exception):
    """A stream not opened: the HTTP status and what to do instead."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def admit(*, client_address: str | None, credential: Credential | None, stream: "ResultStream") -> None:
    """Count a new stream as a WebSocket is counted; raises Refused past a limit."""
    if shutdown.shutting_down:
        raise Refused(503, "The server is shutting down: subscribe again.")
    if not connection_attempts.allow(
        client_address,
        limit=settings.WEBSOCKET_MAX_ATTEMPTS_PER_ADDRESS,
        window_seconds=settings.WEBSOCKET_ATTEMPTS_WINDOW_SECONDS,
    ):
        raise Refused(429, "Too many connections from this address: try again in a few seconds.")
    if credential is not None:
        if not open_sockets().add(credential, stream):
            limit = settings.WEBSOCKET_MAX_CONNECTIONS_PER_CREDENTIAL
            raise Refused(429, f"These credentials hold {limit} connections already: close one first.")
        stream.credential = credential
    shutdown.track(stream)
    stream.counted()


class ResultStream:
    """One operation's results over one HTTP response: Django's StreamingHttpResponse iterates it.

    A subscription is a member of its group (live.groups.Subscriber).
    """

    def __init__(self, schema, *, framing: Framing, viewer, context: dict, request_data, allowed_operation_types):
        self.schema = schema
        self.framing = framing
        self.viewer = viewer
        self.group = None
        self.credential: Credential | None = None
        self._context = context
        self._request_data = request_data
        self._allowed_operation_types = allowed_operation_types
        self._loop = asyncio.get_running_loop()
        self._outbox: deque[str] = deque()
        self._wake = asyncio.Event()  # something to write, or the end
        self._drained: asyncio.Event | None = None  # made when a writer has to wait
        # Where `send` waits for the client, the socket is the bound; elsewhere, a budget.
        self._budget = (
            None
            if servers.send_waits_for_client
            else Budget(
                burst=settings.HTTP_STREAM_SEND_BUFFER_BYTES, per_second=settings.HTTP_STREAM_SEND_BYTES_PER_SECOND
            )
        )
        self._results_sent = 0
        self._ending = False  # no more results: what is in the outbox is the last
        self._ended = False
        self._operation: asyncio.Task | None = None
        self._response: asyncio.Task | None = None  # the task writing the response (Django's)
        self._counted = False

    # The response body.

    def body(self) -> "_ResponseBody":
        """What the StreamingHttpResponse iterates (and closes)."""
        return _ResponseBody(self)

    async def _chunks(self):
        self._response = asyncio.current_task()
        self._operation = self._loop.create_task(self._run())
        try:
            if self.framing.opening:
                yield self.framing.opening
            while True:
                if self._outbox:
                    chunk = "".join(self._outbox)
                    self._outbox.clear()
                    self._on_drained()
                    # The server takes the chunk once the socket can hold it:
                    # a client that reads nothing for the grace period is cut off.
                    stall = self._loop.call_later(settings.WEBSOCKET_STALL_GRACE_SECONDS, self._stalled)
                    yield chunk
                    stall.cancel()
                    continue
                if self._ending:
                    return
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), settings.HTTP_STREAM_HEARTBEAT_SECONDS)
                except TimeoutError:
                    if self._results_sent or self.framing.heartbeat_before_first_result:
                        self._write(self.framing.heartbeat())
        finally:
            self._end()

    def end_from_thread(self) -> None:
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._end)

    def counted(self) -> None:
        self._counted = True
        metrics.http_streams_open.inc()

    # The operation.

    async def _run(self) -> None:
        data = self._request_data
        try:
            await operations.run(
                self.schema,
                self,
                query=data.query,
                variables=data.variables,
                operation_name=data.operation_name,
                context=self._context,
                send_result=self._send_when_writable,
                allowed_operation_types=self._allowed_operation_types,
            )
        except operations.Refused as refusal:
            # graphql-sse's protocol: errors before execution are `next` events of an accepted stream.
            await self.send_result(encode_payload(None, refusal.errors))
            await self.complete()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            await self.fail(error)

    async def _send_when_writable(self, payload: str) -> bool:
        # Results of the operation itself (not of its group) wait for the client.
        return await self.writable() and await self.send_result(payload)

    # live.groups.Subscriber

    def can_send_now(self) -> bool:
        return not self._ending and len(self._outbox) < OUTBOX_RESULTS

    async def writable(self) -> bool:
        while not self._ending and len(self._outbox) >= OUTBOX_RESULTS:
            if self._drained is None:
                self._drained = asyncio.Event()
            await self._drained.wait()
        return not self._ending

    async def send_result(self, payload: str) -> bool:
        if self._ending:
            return False
        chunk = self.framing.result(payload)
        if self._budget is not None and not self._budget.take(len(chunk)):
            self._end_early(CLIENT_TOO_SLOW_CODE, CLIENT_TOO_SLOW_REASON, resubscribe=True, reason="too_slow")
            return False
        self._write(chunk)
        self._results_sent += 1
        return True

    async def complete(self) -> None:
        if not self._ending:
            self._write(self.framing.complete())
            self._finish()

    async def fail(self, error: Exception) -> None:
        # As on a WebSocket: the error (masked and logged), then the end.
        logger.error("A subscription over HTTP failed", exc_info=error)
        if not self._ending:
            self._write(self.framing.result(operations.masked_error_payload(error)))
            await self.complete()

    # Revocable, and shutdown's connections

    async def revoke(self) -> None:
        """Its credentials no longer hold (api.open_sockets)."""
        self.credential = None  # already forgotten by the registry
        self._end_early(REVOKED_CODE, REVOKED_REASON, resubscribe=False, reason="revoked")

    async def close(self, code: int | None = None, reason: str = "") -> None:
        """The server is shutting down (api.shutdown, which closes WebSockets with a code)."""
        self._end_early(SHUTTING_DOWN_CODE, shutdown.CLOSE_REASON, resubscribe=True, reason="shutting_down")

    # Ending.

    def _write(self, chunk: str) -> None:
        self._outbox.append(chunk)
        self._wake.set()

    def _on_drained(self) -> None:
        if self._drained is not None:
            self._drained.set()
            self._drained = None

    def _stalled(self) -> None:
        if self._ended:
            return
        # The server has been writing one chunk for the whole grace period:
        # the client reads nothing. Stop writing the response; the server
        # closes the connection (uvicorn logs the response as incomplete).
        logger.warning("A subscription over HTTP was cut off: its client read nothing for the stall grace period")
        metrics.http_streams_closed.labels("too_slow").inc()
        self._outbox.clear()
        self._finish()
        if self._response is not None:
            self._response.cancel()

    def _end_early(self, code: str, message: str, *, resubscribe: bool, reason: str) -> None:
        if self._ending:
            return
        metrics.http_streams_closed.labels(reason).inc()
        self._write(
            self.framing.ended_early({"message": message, "extensions": {"code": code}}, resubscribe=resubscribe)
        )
        self._finish()

    def _finish(self) -> None:
        """No more results: the outbox is written, then the response ends."""
        self._ending = True
        self._wake.set()
        self._stop_operation()

    def _stop_operation(self) -> None:
        if self._operation is not None and self._operation is not asyncio.current_task():
            self._operation.cancel()
        if self.group is not None:
            self.group.remove(self)
            self.group = None
        if self._drained is not None:
            self._drained.set()  # a writer waiting on a client that left must not wait for ever

    def _end(self) -> None:
        """The response is over (finished, or the client left): forget the stream everywhere."""
        if self._ended:
            return
        self._ended = self._ending = True
        self._stop_operation()
        if self.credential is not None:
            open_sockets().discard(self.credential, self)
            self.credential = None
        shutdown.forget(self)
        if self._counted:
            self._counted = False
            metrics.http_streams_open.dec()


class _ResponseBody:
    """A stream as Django's StreamingHttpResponse takes it: iterated on the event loop, closed from a thread."""

    def __init__(self, stream: ResultStream):
        self._stream = stream

    def __aiter__(self):
        return self._stream._chunks()

    def close(self) -> None:
        self._stream.end_from_thread()
