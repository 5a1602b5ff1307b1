"""GraphQL over HTTP: Strawberry's Django view, with our authentication and the
GraphQL-over-HTTP media type."""

from asgiref.sync import sync_to_async
from cross_web import HTTPException
from django.middleware.csrf import CsrfViewMiddleware, get_token
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from strawberry.django.views import AsyncGraphQLView
from strawberry.schema.exceptions import InvalidOperationTypeError

from api.auth import InvalidCredentials, resolve_viewer

GRAPHQL_RESPONSE_MEDIA_TYPE = "application/graphql-response+json"


def _viewer_of(request) -> dict:
    try:
        return {"viewer": resolve_viewer(authorization=request.headers.get("Authorization"), session_user=request.user)}
    except InvalidCredentials as error:
        return {"viewer": None, "credentials_error": str(error)}


# CSRF is checked in dispatch: only requests riding a session cookie need it;
# a Bearer token cannot be sent by another site's page.
@method_decorator(csrf_exempt, name="dispatch")
class GraphQLView(AsyncGraphQLView):
    async def dispatch(self, request, *args, **kwargs):
        self.graphql_response_media = GRAPHQL_RESPONSE_MEDIA_TYPE in request.headers.get("Accept", "")
        if request.method == "POST" and "Authorization" not in request.headers:
            rejection = CsrfViewMiddleware(lambda _: None).process_view(request, None, (), {})
            if rejection is not None and await sync_to_async(lambda: request.user.is_authenticated)():
                return rejection
        return await super().dispatch(request, *args, **kwargs)

    async def execute_single(self, request, request_adapter, *args, **kwargs):
        try:
            return await super().execute_single(request, request_adapter, *args, **kwargs)
        except HTTPException as error:
            # GraphQL over HTTP: a mutation sent with GET is 405, not 400.
            if request_adapter.method == "GET" and isinstance(error.__cause__, InvalidOperationTypeError):
                raise HTTPException(405, error.reason) from error
            raise

    async def get_context(self, request, response) -> dict:
        return {"request": request, "response": response, **await sync_to_async(_viewer_of)(request)}

    async def render_graphql_ide(self, request):
        get_token(request)  # GraphiQL sends the CSRF cookie back as a header
        return await super().render_graphql_ide(request)

    async def process_result(self, request, result):
        response = await super().process_result(request, result)
        # An error before execution (parse, validation, limits) means no
        # execution happened: the GraphQL spec says `data` is then absent.
        if result.data is None and result.errors and all(error.path is None for error in result.errors):
            response.pop("data", None)
        return response

    def create_response(self, response_data, sub_response):
        response = super().create_response(response_data, sub_response)
        if self.graphql_response_media:
            response["Content-Type"] = f"{GRAPHQL_RESPONSE_MEDIA_TYPE}; charset=utf-8"
            if isinstance(response_data, dict) and "data" not in response_data and response.status_code == 200:
                response.status_code = 400
        return response
