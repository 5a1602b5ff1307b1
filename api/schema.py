"""The root schema: the submissions API, with limits against abusive documents."""

from collections.abc import Iterator

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)

from api.errors import ErrorCodes, log_unexpected
from api.execution import SharedEventExecutionContext
from submissions.graphql.mutations import Mutation
from submissions.graphql.queries import Query
from submissions.graphql.subscriptions import Subscription

MAX_QUERY_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 5000


class CachedParsing(ParserCache):
    """ParserCache, except that a document that does not parse is reported the usual way.

    ParserCache raises the syntax error from inside its hook, past the error
    handling that gives it a code; leaving the document unparsed lets
    Strawberry parse it again and report it like any other request error.
    """

    def on_parse(self) -> Iterator[None]:
        try:
            self.execution_context.graphql_document = self.cached_parse_document(
                self.execution_context.query, **self.execution_context.parse_options
            )
        except GraphQLError:
            pass
        yield


class Schema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None) -> None:
        log_unexpected(errors)


# The limiters' rules are built once: ValidationCache keys on the rules, and a
# limiter built per operation (as a factory would) makes new ones every time.
LIMIT_RULES = [
    *QueryDepthLimiter(max_depth=MAX_QUERY_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
]

schema = Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    execution_context_class=SharedEventExecutionContext,
    extensions=[
        # Front ends send the same few documents over and over: parse and
        # validate each once (subscribing a thousand pages costs one parse).
        lambda: CachedParsing(maxsize=256),
        lambda: ValidationCache(maxsize=256),
        lambda: AddValidationRules(LIMIT_RULES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        ErrorCodes,
    ],
)
