"""GraphQL over HTTP: Strawberry's Django view, with our authentication, the
GraphQL-over-HTTP media type, and every refusal shaped as a GraphQL error."""

import json

from asgiref.sync import sync_to_async
from cross_web import HTTPException
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, StreamingHttpResponse, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from django.middleware.csrf import CsrfViewMiddleware, get_token
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from strawberry.django.views import AsyncGraphQLView
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from api.auth import InvalidCredentials, recent_viewer, resolve_viewer
from api.errors import request_error_body
from api.open_sockets import credential_of
from api.proxies import scope_client_address
from live import http as http_streams
from live.http import STREAM_ACCEPT_HINT

GRAPHQL_RESPONSE_MEDIA_TYPE = "application/graphql-response+json"
SUBSCRIPTIONS_OVER_HTTP = (
    f"A subscription is a stream of results, which a JSON response cannot carry: {STREAM_ACCEPT_HINT}."
)
REQUEST_BODY_EXAMPLE = '{"query": "{ viewer { username } }", "variables": {}}'


def viewer_context(*, authorization: str | None, session_user=None) -> dict:
    """The context entries naming who asks: the viewer, or why the credentials were refused."""
    try:
        return {"viewer": resolve_viewer(authorization=authorization, session_user=session_user)}
    except InvalidCredentials as error:
        return {"viewer": None, "credentials_error": str(error)}


def _viewer_of(request) -> dict:
    authorization = request.headers.get("Authorization")
    # A request with a token has no session to read (api.token_requests serves it without the middleware).
    return viewer_context(authorization=authorization, session_user=None if authorization else request.user)


def without_data_when_not_executed(result, response: dict) -> dict:
    """`response` without `data` when an error came before execution (parse, validation, limits), as the spec says."""
    if result.data is None and result.errors and all(error.path is None for error in result.errors):
        response.pop("data", None)
    return response


class _CsrfCheck(CsrfViewMiddleware):
    def _reject(self, request, reason):
        return reason  # the reason, for a GraphQL error, instead of Django's HTML failure page


class _NotJsonConstant(ValueError):
    pass


def _refuse_constant(name: str):
    # Python's json reads NaN and Infinity, which JSON does not have (and
    # which PostgreSQL's jsonb and SQLite's JSON_VALID refuse).
    raise _NotJsonConstant(name)


def _decode_json(data: str | bytes, *, what: str):
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text, parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise HTTPException(400, f"{what} is not valid UTF-8.") from None
    except RecursionError:
        # The C decoder checks its depth: a hundred thousand `[` fail fast.
        raise HTTPException(400, f"{what} is JSON nested too deeply.") from None
    except json.JSONDecodeError as error:
        raise HTTPException(400, f"{what} is not valid JSON: {error}.") from None
    except _NotJsonConstant as error:
        raise HTTPException(400, f"{what} is not valid JSON: {error} is not a JSON number.") from None
    except ValueError:
        # Python refuses to convert integers of more than 4300 digits.
        raise HTTPException(400, f"{what} is not valid JSON: a number in it has too many digits.") from None


# CSRF is checked in dispatch: only requests riding a session cookie need it;
# a Bearer token cannot be sent by another site's page.
@method_decorator(csrf_exempt, name="dispatch")
class GraphQLView(AsyncGraphQLView):
    async def dispatch(self, request, *args, **kwargs):
        self.graphql_response_media = GRAPHQL_RESPONSE_MEDIA_TYPE in request.headers.get("Accept", "")
        # Strawberry's dispatch answers its refusals in plain text; ours carry
        # a GraphQL error with a code, with the status Strawberry chose.
        try:
            if (reason := await self._csrf_failure(request)) is not None:
                return self.request_error(
                    403,
                    f"CSRF verification failed: {reason} Send the csrftoken cookie's value in the X-CSRFToken "
                    "header, or authenticate with 'Authorization: Bearer <token>' instead of the session.",
                    code="FORBIDDEN",
                )
            if (framing := http_streams.framing_for(request.headers.get("Accept", ""))) is not None:
                return await self.stream(request, framing)
            return await self.run(request=request)
        except http_streams.Refused as refusal:
            return self.request_error(refusal.status, refusal.message)
        except HTTPException as error:
            return self.request_error(error.status_code, error.reason)
        except RequestDataTooBig:
            return self.request_error(
                413, f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
            )
        except (UnreadablePostError, MultiPartParserError):
            return self.request_error(400, "The request body could not be read.")

    async def stream(self, request, framing: http_streams.Framing) -> StreamingHttpResponse:
        """The operation's results as a stream (live.http): how subscriptions are served over HTTP."""
        if not self.is_request_allowed(request):
            raise HTTPException(405, "GraphQL only supports GET and POST requests.")
        request_data = await self.parse_http_body(self.request_adapter_class(request))
        context = await self.get_context(request, await self.get_sub_response(request))
        stream = http_streams.ResultStream(
            self.schema,
            framing=framing,
            viewer=context["viewer"],
            context=context,
            request_data=request_data,
            allowed_operation_types=OperationType.from_http(request.method),
        )
        authorization = request.headers.get("Authorization") or None
        session_key = None if authorization else request.session.session_key
        http_streams.admit(
            client_address=scope_client_address(request.scope),
            credential=credential_of(authorization, session_key, context["viewer"]) if context["viewer"] else None,
            stream=stream,
        )
        return StreamingHttpResponse(
            stream.body(),
            content_type=framing.content_type,
            # No cache may keep a stream, nor a proxy hold it back (nginx buffers responses).
            headers={"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"},
        )

    async def _csrf_failure(self, request) -> str | None:
        """Why a POST riding the session cookie fails the CSRF check; None if it passes or needs none."""
        # Only a non-empty Authorization header is a credential: with an empty
        # one, the session cookie is what authenticates (api.auth.resolve_viewer).
        if request.method != "POST" or request.headers.get("Authorization"):
            return None
        rejection = _CsrfCheck(lambda _: None).process_view(request, None, (), {})
        if rejection is None or not await sync_to_async(lambda: request.user.is_authenticated)():
            return None
        return rejection if isinstance(rejection, str) else "CSRF token missing or incorrect."

    def request_error(self, status: int, message: str, *, code: str | None = None) -> HttpResponse:
        """A refusal before execution: a GraphQL response with one error and no `data`."""
        response = HttpResponse(
            self.encode_json(request_error_body(message, code=code)),
            status=status,
            content_type=f"{GRAPHQL_RESPONSE_MEDIA_TYPE if self.graphql_response_media else 'application/json'}; "
            "charset=utf-8",
        )
        if status == 405:
            response["Allow"] = "GET, POST"
        return response

    def parse_json(self, data: str | bytes):
        value = _decode_json(data, what="The request body")
        # A list is a batch, which Strawberry refuses with its own message.
        if not isinstance(value, dict | list):
            raise HTTPException(400, f"The request body must be a JSON object, such as {REQUEST_BODY_EXAMPLE}.")
        return value

    def parse_query_params(self, params) -> dict:
        params = dict(params)
        for name in ("variables", "extensions"):
            if params.get(name):
                params[name] = _decode_json(params[name], what=f"`{name}`")
        return params

    async def parse_http_body(self, request):
        if request.method == "POST":
            # The same test as Strawberry's, which answers 400 without it.
            content_type, _ = parse_content_type(request.content_type or "")
            if "application/json" not in content_type:
                raise HTTPException(415, "Send the request as JSON, with 'Content-Type: application/json'.")
        request_data = await super().parse_http_body(request)
        if isinstance(request_data, GraphQLRequestData):  # batches are refused while parsing
            if not isinstance(request_data.query, str) or not request_data.query.strip():
                raise HTTPException(400, "The request has no GraphQL document: send it as a string in `query`.")
            if not isinstance(request_data.operation_name, str | None):
                raise HTTPException(400, "The GraphQL operation's `operationName` must be a string or null.")
        return request_data

    async def execute_single(self, request, request_adapter, sub_response, context, root_value, request_data):
        # A subscription is a stream, which a JSON response cannot carry: it is
        # refused before execution, which would run its resolver as a plain field.
        allowed_operation_types = OperationType.from_http(request_adapter.method) - {OperationType.SUBSCRIPTION}
        try:
            return await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed_operation_types,
                operation_extensions=request_data.extensions,
            )
        except InvalidOperationTypeError as error:
            if error.operation_type == OperationType.SUBSCRIPTION:
                raise HTTPException(406, SUBSCRIPTIONS_OVER_HTTP) from error
            # GraphQL over HTTP: a mutation sent with GET is 405, not 400.
            raise HTTPException(405, error.as_http_error_reason(request_adapter.method)) from error
        except CannotGetOperationTypeError as error:
            if error.operation_name is None:
                raise HTTPException(
                    400, "The document must hold one operation, or name the one to run in `operationName`."
                ) from error
            raise HTTPException(400, error.as_http_error_reason()) from error
        except MissingQueryError as error:
            raise HTTPException(400, "The request has no GraphQL document: send it as a string in `query`.") from error

    async def get_context(self, request, response) -> dict:
        # A token checked lately needs no query, so no thread hop either (each
        # request's first hop starts a thread and a database connection).
        if (viewer := recent_viewer(authorization=request.headers.get("Authorization"))) is not None:
            return {"request": request, "response": response, "viewer": viewer}
        return {"request": request, "response": response, **await sync_to_async(_viewer_of)(request)}

    async def render_graphql_ide(self, request):
        get_token(request)  # GraphiQL sends the CSRF cookie back as a header
        return await super().render_graphql_ide(request)

    async def process_result(self, request, result):
        return without_data_when_not_executed(result, await super().process_result(request, result))

    def create_response(self, response_data, sub_response):
        response = super().create_response(response_data, sub_response)
        if self.graphql_response_media:
            response["Content-Type"] = f"{GRAPHQL_RESPONSE_MEDIA_TYPE}; charset=utf-8"
            if isinstance(response_data, dict) and "data" not in response_data and response.status_code == 200:
                response.status_code = 400
        return response
