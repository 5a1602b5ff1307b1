"""The root schema: the submissions API, with limits against abusive documents."""

import logging

import strawberry
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter

from api.errors import ErrorCodes, is_unexpected
from api.execution import SharedEventExecutionContext
from submissions.graphql.mutations import Mutation
from submissions.graphql.queries import Query
from submissions.graphql.subscriptions import Subscription

logger = logging.getLogger("api.errors")

MAX_QUERY_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 5000


class Schema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None) -> None:
        # Domain and request errors are the caller's business; log only bugs.
        for error in errors:
            if is_unexpected(error):
                logger.error("Unexpected error in %s", error.path, exc_info=error.original_error)


schema = Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    execution_context_class=SharedEventExecutionContext,
    extensions=[
        lambda: QueryDepthLimiter(max_depth=MAX_QUERY_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        ErrorCodes,
    ],
)
