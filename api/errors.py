"""Errors on the wire: domain errors keep their message and code; anything else is masked.

This is the one place where an exception becomes `extensions.code`.
"""

import logging
from collections.abc import Iterable, Iterator

from django.conf import settings
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from submissions.exceptions import DomainError

logger = logging.getLogger("api.errors")

# Parse, validation and query-limit failures: the request itself is wrong.
REQUEST_ERROR_CODE = "BAD_USER_INPUT"
UNEXPECTED_ERROR_CODE = "INTERNAL_SERVER_ERROR"


def is_unexpected(error: GraphQLError) -> bool:
    """An error raised by our code that is not a domain error: a bug, to mask and log."""
    original = error.original_error
    return original is not None and not isinstance(original, (DomainError, GraphQLError))


def log_unexpected(errors: Iterable[GraphQLError]) -> None:
    """Domain and request errors are the caller's business; log only bugs."""
    for error in errors:
        if is_unexpected(error):
            logger.error("Unexpected error in %s", error.path, exc_info=error.original_error)


def request_error_body(message: str, *, code: str | None = None) -> dict:
    """The response to a request refused before execution (transport, body, CSRF): one error, no `data`."""
    return {"errors": [{"message": message, "extensions": {"code": code or REQUEST_ERROR_CODE}}]}


def to_wire(error: GraphQLError) -> GraphQLError:
    if error.extensions and "code" in error.extensions:
        return error
    original = error.original_error
    if isinstance(original, DomainError):
        message, code = original.message, original.code
    elif is_unexpected(error):
        message, code = "Unexpected error.", UNEXPECTED_ERROR_CODE
    else:
        message, code = error.message, REQUEST_ERROR_CODE
    return GraphQLError(
        message=message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions={**(error.extensions or {}), "code": code},
    )


class ErrorCodes(SchemaExtension):
    """Gives every error an `extensions.code` and hides unexpected exceptions' text."""

    def _map(self, result) -> None:
        if result is not None and getattr(result, "errors", None):
            result.errors = [to_wire(error) for error in result.errors]

    def on_operation(self) -> Iterator[None]:
        yield
        self._map(self.execution_context.result)

    def on_stream_result(self, result) -> Iterator[None]:
        self._map(result)
        yield


def operation_limit_error() -> dict:
    """The error a WebSocket operation gets when its connection already runs as many as it may."""
    limit = settings.WEBSOCKET_MAX_OPERATIONS_PER_CONNECTION
    return {
        "message": f"This connection already runs {limit} operations: complete one, or open another connection.",
        "extensions": {"code": REQUEST_ERROR_CODE},
    }
