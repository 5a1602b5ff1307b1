"""GraphQL POSTs that carry a token, served without Django's request cycle.

Services call /graphql/ with `Authorization: Bearer`, many times a second.
Such a request needs nothing of the middleware: no session, no CSRF (a page
of another site cannot set the header), no cookies, no messages. Yet Django
runs each middleware's hooks in a thread (`MiddlewareMixin`), twice per
middleware, and starts a thread per request for its thread-sensitive
context: measured, that was most of a mutation's cost. Here such a request
is served on the event loop, and its response gets the headers the
middleware would have added.

The common case, a JSON object whose `query` names a query or a mutation,
is executed here directly. Anything else (a malformed body, a batch, a
subscription) goes to the GraphQL view, so that every refusal reads as it
does on Django's path; other requests, and streamed answers (subscriptions
over HTTP), take Django's path.
"""

import io
import json
import logging

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from strawberry.exceptions import MissingQueryError
from strawberry.http import process_result
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from api.auth import recent_viewer
from api.errors import UNEXPECTED_ERROR_CODE, request_error_body
from api.views import GRAPHQL_RESPONSE_MEDIA_TYPE, viewer_context, without_data_when_not_executed

logger = logging.getLogger("django.request")

GRAPHQL_PATHS = frozenset({"/graphql", "/graphql/"})
STREAMED_MEDIA_TYPES = (b"multipart/", b"text/event-stream")
QUERIES_AND_MUTATIONS = frozenset({OperationType.QUERY, OperationType.MUTATION})


def _is_token_post(scope) -> bool:
    if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in GRAPHQL_PATHS:
        return False
    authorization = accept = b""
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value
        elif name == b"accept":
            accept = value
    return bool(authorization.strip()) and not any(media in accept for media in STREAMED_MEDIA_TYPES)


def _no_view(request):  # the middleware below only add headers to a response
    raise AssertionError("not called")


class TokenRequests:
    """ASGI: token-carrying GraphQL POSTs to `view`, everything else to `application`."""

    def __init__(self, application, *, view, schema):
        self.application = application
        self.view = view
        self.schema = schema
        self.header_middleware = (SecurityMiddleware(_no_view), XFrameOptionsMiddleware(_no_view))

    async def __call__(self, scope, receive, send) -> None:
        if not _is_token_post(scope):
            return await self.application(scope, receive, send)
        try:
            body = await _read_body(receive)
        except _Disconnected:
            return
        request = ASGIRequest(scope, io.BytesIO(body or b""))
        response = await self._respond(request, body)
        for middleware in self.header_middleware:
            response = middleware.process_response(request, response)
        response.setdefault("Content-Length", str(len(response.content)))  # as CommonMiddleware sets it
        await _send_response(send, response)

    async def _respond(self, request: ASGIRequest, body: bytes | None) -> HttpResponse:
        media = (
            GRAPHQL_RESPONSE_MEDIA_TYPE if GRAPHQL_RESPONSE_MEDIA_TYPE in request.headers.get("Accept", "") else None
        )
        if body is None:
            return _error(413, f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.", media)
        try:
            request.get_host()
        except DisallowedHost:
            # Django's path refuses it too (CommonMiddleware validates the host).
            return _error(400, "The Host header is not one this server answers to.", media)
        try:
            return await self._execute(request, body) or await self.view(request)
        except Exception:
            logger.exception("Internal Server Error: %s", request.path, extra={"status_code": 500, "request": request})
            return _error(500, "Unexpected error.", media, code=UNEXPECTED_ERROR_CODE)

    async def _execute(self, request: ASGIRequest, body: bytes) -> HttpResponse | None:
        """The response to a well-formed query or mutation; None for anything the view must answer."""
        if "application/json" not in request.content_type:
            return None
        try:
            document = json.loads(body.decode("utf-8"), parse_constant=_not_json)
        except (ValueError, RecursionError):  # not UTF-8, not JSON, nested too deep: the view says which
            return None
        if not _plain_request(document):
            return None
        authorization = request.headers["Authorization"]
        if (viewer := recent_viewer(authorization=authorization)) is not None:
            context = {"request": request, "viewer": viewer}
        else:
            context = {"request": request, **await sync_to_async(viewer_context)(authorization=authorization)}
        try:
            result = await self.schema.execute(
                document["query"],
                variable_values=document.get("variables"),
                context_value=context,
                operation_name=document.get("operationName"),
                allowed_operation_types=QUERIES_AND_MUTATIONS,
                operation_extensions=document.get("extensions"),
            )
        except (InvalidOperationTypeError, CannotGetOperationTypeError, MissingQueryError):
            return None  # refused before execution: the view says why, as it does on Django's path
        payload = without_data_when_not_executed(result, process_result(result))
        graphql_response = GRAPHQL_RESPONSE_MEDIA_TYPE in request.headers.get("Accept", "")
        status = 400 if graphql_response and "data" not in payload else 200
        content_type = f"{GRAPHQL_RESPONSE_MEDIA_TYPE}; charset=utf-8" if graphql_response else "application/json"
        # Encoded as Strawberry's views encode it.
        return HttpResponse(json.dumps(payload, separators=(",", ":")), status=status, content_type=content_type)


def _not_json(name: str):
    raise ValueError(name)  # NaN and Infinity: the view refuses them


def _plain_request(document) -> bool:
    """A JSON object with a query string and well-typed optional members: what the direct path executes."""
    return (
        type(document) is dict
        and type(document.get("query")) is str
        and bool(document["query"].strip())
        and isinstance(document.get("variables"), dict | None)
        and isinstance(document.get("operationName"), str | None)
        and isinstance(document.get("extensions"), dict | None)
    )


def _error(status: int, message: str, media: str | None, *, code: str | None = None) -> HttpResponse:
    body = json.dumps(request_error_body(message, code=code))
    return HttpResponse(body, status=status, content_type=f"{media or 'application/json'}; charset=utf-8")


class _Disconnected(Exception):
    pass


async def _read_body(receive) -> bytes | None:
    """The request body; None when it is larger than Django would read."""
    chunks, size, limit = [], 0, settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send_response(send, response: HttpResponse) -> None:
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.items()]
    cookies = response.cookies.values()
    headers += [(b"set-cookie", cookie.output(header="").strip().encode("latin-1")) for cookie in cookies]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})
