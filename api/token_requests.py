"""GraphQL POSTs that carry a token, served by the GraphQL view without Django's request cycle.

Services call /graphql/ with `Authorization: Bearer`, many times a second.
Such a request needs nothing of the middleware: no session, no CSRF (a page
of another site cannot set the header), no cookies, no messages. Yet Django
runs each middleware's hooks in a thread (`MiddlewareMixin`), twice per
middleware, and starts a thread per request for its thread-sensitive
context: measured, that was most of a mutation's cost. Here such a request
goes straight to the same view, on the event loop, and its response gets the
headers the middleware would have added. Every other request, and a
streamed answer (a subscription over HTTP), takes Django's path.
"""

import io
import json
import logging

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware

from api.errors import UNEXPECTED_ERROR_CODE, request_error_body
from api.views import GRAPHQL_RESPONSE_MEDIA_TYPE

logger = logging.getLogger("django.request")

GRAPHQL_PATHS = frozenset({"/graphql", "/graphql/"})
STREAMED_MEDIA_TYPES = (b"multipart/", b"text/event-stream")


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

    def __init__(self, application, *, view):
        self.application = application
        self.view = view
        self.header_middleware = (SecurityMiddleware(_no_view), XFrameOptionsMiddleware(_no_view))

    async def __call__(self, scope, receive, send) -> None:
        if not _is_token_post(scope):
            return await self.application(scope, receive, send)
        try:
            body = await _read_body(receive)
        except _Disconnected:
            return
        request = ASGIRequest(scope, io.BytesIO(body or b""))
        response = await self._respond(request, body_too_large=body is None)
        for middleware in self.header_middleware:
            response = middleware.process_response(request, response)
        response.setdefault("Content-Length", str(len(response.content)))  # as CommonMiddleware sets it
        await _send_response(send, response)

    async def _respond(self, request: ASGIRequest, *, body_too_large: bool) -> HttpResponse:
        media = (
            GRAPHQL_RESPONSE_MEDIA_TYPE if GRAPHQL_RESPONSE_MEDIA_TYPE in request.headers.get("Accept", "") else None
        )
        if body_too_large:
            return _error(413, f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.", media)
        try:
            request.get_host()
        except DisallowedHost:
            # Django's path refuses it too (CommonMiddleware validates the host).
            return _error(400, "The Host header is not one this server answers to.", media)
        try:
            return await self.view(request)
        except Exception:
            logger.exception("Internal Server Error: %s", request.path, extra={"status_code": 500, "request": request})
            return _error(500, "Unexpected error.", media, code=UNEXPECTED_ERROR_CODE)


def _error(status: int, message: str, media: str | None, *, code: str | None = None) -> HttpResponse:
    body = json.dumps(request_error_body(message, code=code))
    return HttpResponse(body, status=status, content_type=f"{media or 'application/json'}; charset=utf-8")


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


class _Disconnected(Exception):
    pass


async def _send_response(send, response: HttpResponse) -> None:
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.items()]
    cookies = response.cookies.values()
    headers += [(b"set-cookie", cookie.output(header="").strip().encode("latin-1")) for cookie in cookies]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})
