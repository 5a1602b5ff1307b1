"""Limits on GraphQL documents, each checked in time linear in the document.

A document is refused with BAD_USER_INPUT, before anything runs:

- by the parser, when it is longer (characters) or has more tokens than
  allowed: it stops reading there;
- before graphql-core's validation, when it has too many fields or fragment
  spreads, nests fields too deep or uses too many aliases. Validation's
  overlapping-fields rule is quadratic in the fields (400 copies of
  `viewer { username }`, 8 KB, took 0.8 s), so it only ever sees bounded
  documents;
- after validation, when its cost with the request's variables is too high.

Strawberry's QueryDepthLimiter and MaxAliasesLimiter walk a fragment again
at every spread: a chain of fragments that each spread the next twice costs
2^n steps, and a 1 KB document kept a server busy for minutes. Here every
fragment is measured once and its figures are reused at each spread.

Validation, and the parsing of long documents, run in a worker thread, so
that other clients are served meanwhile; each document once (remembered).
"""

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from django.conf import settings
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    is_composite_type,
    is_list_type,
    parse,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

# A list field costs its size argument (or that argument's default); a list
# with none counts as this many items.
SIZE_ARGUMENTS = ("first", "last", "limit")
UNSIZED_LIST_COST = 10
# `__schema` and `__type` cost this much each, whatever they select: their
# size is the schema's, and graphql-core's MaxIntrospectionDepthRule bounds
# their nesting.
INTROSPECTION_COST = 100
# Sizes past this are all "too many"; it keeps the arithmetic small.
LARGEST_LIST_SIZE = 10**9
# Documents longer than this (characters) are parsed in the worker thread;
# shorter ones parse in well under a millisecond.
INLINE_PARSE_CHARS = 1_000
DOCUMENTS_REMEMBERED = 256


@dataclass(frozen=True)
class Limits:
    max_chars: int
    max_tokens: int
    max_fields: int
    max_fragment_spreads: int
    max_depth: int
    max_aliases: int
    max_cost: int

    @classmethod
    def from_settings(cls) -> "Limits":
        return cls(
            max_chars=settings.GRAPHQL_MAX_DOCUMENT_CHARS,
            max_tokens=settings.GRAPHQL_MAX_TOKENS,
            max_fields=settings.GRAPHQL_MAX_FIELDS,
            max_fragment_spreads=settings.GRAPHQL_MAX_FRAGMENT_SPREADS,
            max_depth=settings.GRAPHQL_MAX_DEPTH,
            max_aliases=settings.GRAPHQL_MAX_ALIASES,
            max_cost=settings.GRAPHQL_MAX_COST,
        )

    @property
    def parse_options(self) -> dict[str, int]:
        # The parser refuses a longer source before reading it, and stops at
        # the token past the limit; comments are counted apart from tokens.
        return {
            "max_source_length": self.max_chars,
            "max_lexical_tokens": self.max_tokens,
            "max_comments": self.max_tokens,
        }


# The shape, before validation: fields, spreads, depth, aliases.


@dataclass
class _Definition:
    """An operation or fragment: what it holds itself, and the spreads it makes."""

    depth: int = 0
    aliases: int = 0
    # Each spread's fragment, and the depth it sits at (None within introspection).
    spreads: list[tuple[str, int | None]] = field(default_factory=list)


def _scan(selection_set: SelectionSetNode, counts: dict[str, int]) -> _Definition:
    """One definition's own depth, aliases and spreads; adds its fields and spreads to `counts`."""
    found = _Definition()
    # Iterative: the parser allows selection sets 200 deep.
    stack = [(selection_set, 0, False)]  # (selections, depth around them, within introspection)
    while stack:
        selections, depth, introspection = stack.pop()
        for selection in selections.selections:
            if isinstance(selection, FragmentSpreadNode):
                counts["spreads"] += 1
                found.spreads.append((selection.name.value, None if introspection else depth))
            elif isinstance(selection, InlineFragmentNode):
                stack.append((selection.selection_set, depth, introspection))
            else:
                counts["fields"] += 1
                if selection.alias is not None:
                    found.aliases += 1
                if selection.selection_set is not None:
                    # As Strawberry's limiter: introspection nests as deep as
                    # the schema's types, and graphql-core bounds it.
                    inner = introspection or selection.name.value.startswith("__")
                    if not inner:
                        found.depth = max(found.depth, depth + 1)
                    stack.append((selection.selection_set, depth + 1, inner))
    return found


def _expand(operations: list[_Definition], fragments: Mapping[str, _Definition]) -> list[_Definition]:
    """Each operation's depth and aliases with its spreads followed, each fragment measured once.

    A spread of an unknown fragment, or one closing a cycle, adds nothing
    here: validation reports both.
    """
    done: dict[str, _Definition] = {}

    def followed(definition: _Definition) -> _Definition:
        depth, aliases = definition.depth, definition.aliases
        for name, at in definition.spreads:
            if (spread := done.get(name)) is not None:
                aliases += spread.aliases  # as if the fragment were written out at each spread
                if at is not None:
                    depth = max(depth, at + spread.depth)
        return _Definition(depth=depth, aliases=aliases)

    # Fragments in post-order, without recursion: a chain may be long.
    for root in fragments:
        if root in done:
            continue
        path = [(root, iter(fragments[root].spreads))]
        on_path = {root}
        while path:
            name, spreads = path[-1]
            for spread, _ in spreads:
                if spread in fragments and spread not in done and spread not in on_path:
                    path.append((spread, iter(fragments[spread].spreads)))
                    on_path.add(spread)
                    break
            else:
                path.pop()
                on_path.discard(name)
                done[name] = followed(fragments[name])
    return [followed(operation) for operation in operations]


def shape_errors(document: DocumentNode, limits: Limits) -> list[GraphQLError]:
    """Too many fields or spreads, too deep, too many aliases; found in one pass over the document."""
    counts = {"fields": 0, "spreads": 0}
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    own = [_scan(operation.selection_set, counts) for operation in operations]
    fragments = {
        d.name.value: _scan(d.selection_set, counts)
        for d in document.definitions
        if isinstance(d, FragmentDefinitionNode)
    }
    if counts["fields"] > limits.max_fields:
        return [
            GraphQLError(
                f"The document selects {counts['fields']:,} fields; at most {limits.max_fields:,} are allowed. "
                "Select fewer fields, or split the document into several requests."
            )
        ]
    if counts["spreads"] > limits.max_fragment_spreads:
        return [
            GraphQLError(
                f"The document has {counts['spreads']:,} fragment spreads; at most {limits.max_fragment_spreads:,} "
                "are allowed. Spread fewer fragments, or select their fields in place."
            )
        ]
    errors = []
    measured = _expand(own, fragments)
    for operation, figures in zip(operations, measured, strict=True):
        if figures.depth > limits.max_depth:
            name = operation.name.value if operation.name else "anonymous"
            errors.append(
                GraphQLError(
                    f"'{name}' exceeds maximum operation depth of {limits.max_depth}: it nests {figures.depth:,} "
                    "fields with selections. Select less deeply nested fields.",
                    operation,
                )
            )
    aliases = sum(figures.aliases for figures in measured)
    if aliases > limits.max_aliases:
        errors.append(
            GraphQLError(
                f"The document uses {aliases:,} aliases (those in a fragment counted at each of its spreads); at "
                f"most {limits.max_aliases:,} are allowed. Alias fewer fields, or split them into several requests."
            )
        )
    return errors


# The cost, after validation: list sizes multiplied through nesting.


class _Cost:
    """The cost of a valid operation, each fragment costed once (its variables are the operation's)."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode, operation, variables):
        self.schema = schema
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self.variables = variables if isinstance(variables, Mapping) else {}
        self.variable_defaults = {d.variable.name.value: d.default_value for d in operation.variable_definitions or ()}
        self.costed: dict[str, int] = {}

    def of_selection_set(self, selection_set: SelectionSetNode, parent_type) -> int:
        cost = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                cost += self.of_field(selection, parent_type)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                cost += self.of_selection_set(
                    selection.selection_set, self.schema.get_type(condition.name.value) if condition else parent_type
                )
            else:
                cost += self.of_fragment(selection.name.value)
        return cost

    def of_fragment(self, name: str) -> int:
        if name not in self.costed:
            fragment = self.fragments[name]
            self.costed[name] = 0  # validation refuses cycles; this only guards against them
            fragment_type = self.schema.get_type(fragment.type_condition.name.value)
            self.costed[name] = self.of_selection_set(fragment.selection_set, fragment_type)
        return self.costed[name]

    def of_field(self, node: FieldNode, parent_type) -> int:
        name = node.name.value
        if name in ("__schema", "__type"):
            return INTROSPECTION_COST
        definition = getattr(parent_type, "fields", {}).get(name)
        if definition is None or node.selection_set is None or not is_composite_type(get_named_type(definition.type)):
            return 0  # leaves, lists of scalars too, come with the object that holds them
        size = self.list_size(node, definition) if is_list_type(get_nullable_type(definition.type)) else 1
        return size * (1 + self.of_selection_set(node.selection_set, get_named_type(definition.type)))

    def list_size(self, node: FieldNode, definition: GraphQLField) -> int:
        for name in SIZE_ARGUMENTS:
            if name in definition.args:
                given = next((argument.value for argument in node.arguments or () if argument.name.value == name), None)
                size = None if given is None else self.int_value(given)
                if size is None:  # not given, or null: the resolver uses the default
                    size = definition.args[name].default_value
                if isinstance(size, int) and not isinstance(size, bool):
                    return min(max(size, 0), LARGEST_LIST_SIZE)
        return UNSIZED_LIST_COST

    def int_value(self, value: ValueNode) -> int | None:
        """The integer `value` stands for in this request; None for null or anything else."""
        if isinstance(value, VariableNode):
            name = value.name.value
            if name in self.variables:
                given = self.variables[name]
                return given if isinstance(given, int) and not isinstance(given, bool) else None
            value = self.variable_defaults.get(name)
        return int(value.value) if isinstance(value, IntValueNode) else None


def operation_cost(
    schema: GraphQLSchema, document: DocumentNode, *, operation_name: str | None = None, variables=None
) -> int:
    """The cost of the operation a valid document runs: every object field costs one, times its list's size
    and those of the lists around it."""
    operation = get_operation_ast(document, operation_name)
    # Without one to choose, execution refuses the document; cost the dearest meanwhile.
    candidates = (
        [operation] if operation else [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    )
    return max(
        (
            _Cost(schema, document, candidate, variables).of_selection_set(
                candidate.selection_set, schema.get_root_type(candidate.operation)
            )
            for candidate in candidates
        ),
        default=0,
    )


def cost_errors(
    schema: GraphQLSchema, document: DocumentNode, limits: Limits, *, operation_name: str | None, variables
) -> list[GraphQLError]:
    cost = operation_cost(schema, document, operation_name=operation_name, variables=variables)
    if cost <= limits.max_cost:
        return []
    return [
        GraphQLError(
            f"This operation costs {cost:,}; at most {limits.max_cost:,} is allowed. Each list field costs its "
            "`first` or `limit` (or their default) times what it selects: ask for fewer items, select less "
            "under lists, or split the operation into several requests."
        )
    ]


# Into Strawberry.


class _Recent(OrderedDict):
    """The last few results by key, oldest forgotten first; used on the event loop only."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def remember(self, key, value) -> None:
        self[key] = value
        if len(self) > self.size:
            self.popitem(last=False)


# Front ends send the same few documents over and over (a thousand pages
# subscribing): each is parsed and validated once.
_documents = _Recent(DOCUMENTS_REMEMBERED)  # (text, parse options) -> document
_validations = _Recent(DOCUMENTS_REMEMBERED)  # (id(document), rules, limits) -> (document, errors)
# One thread: documents from many clients wait for one another there rather
# than take more of the process from everyone else.
_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="graphql-documents")


def validation_errors(schema: GraphQLSchema, document: DocumentNode, rules: tuple, limits: Limits) -> list:
    """The document's shape errors, or else graphql-core's (and Strawberry's) validation errors."""
    return shape_errors(document, limits) or validate_document(schema, document, rules)


async def _parsed(query: str, options: dict) -> DocumentNode | None:
    """The document, parsed once; None if it does not parse.

    Raised from a hook, the syntax error would skip the handling that gives
    it a code; left unparsed, the document is parsed again by Strawberry (as
    far as the limits let it: a few milliseconds) and reported as usual.
    """
    key = (query, tuple(options.items()))
    if (document := _documents.get(key)) is None:
        parsing = partial(parse, query, **options)
        try:
            if len(query) <= INLINE_PARSE_CHARS:
                document = parsing()
            else:
                document = await asyncio.get_running_loop().run_in_executor(_worker, parsing)
        except GraphQLError:
            return None
        _documents.remember(key, document)
    return document


class DocumentLimits(SchemaExtension):
    """Parses and validates within the limits, each document once, then checks each request's cost.

    Validation runs in the worker thread: within the limits it still takes
    up to ~0.1 s (duplicated fields, unknown fields with their suggestions),
    even for a short document. Parsing is linear: only long documents go.
    It parses and validates: put no ParserCache or ValidationCache beside it.
    """

    def __init__(self, limits: Limits):
        self.limits = limits

    def on_operation(self) -> Iterator[None]:
        self.execution_context.parse_options.update(self.limits.parse_options)
        yield

    async def on_parse(self) -> AsyncIterator[None]:
        context = self.execution_context
        if context.graphql_document is None and context.query:
            context.graphql_document = await _parsed(context.query, context.parse_options)
        yield

    async def on_validate(self) -> AsyncIterator[None]:
        context = self.execution_context
        schema, document = context.schema._schema, context.graphql_document
        key = (id(document), context.validation_rules, self.limits)
        kept = _validations.get(key)
        if kept is not None and kept[0] is document:
            errors = kept[1]
        else:
            errors = await asyncio.get_running_loop().run_in_executor(
                _worker, validation_errors, schema, document, context.validation_rules, self.limits
            )
            # The document is kept with its errors: its id names no other meanwhile.
            _validations.remember(key, (document, errors))
        if not errors:
            errors = cost_errors(
                schema, document, self.limits, operation_name=context.operation_name, variables=context.variables
            )
        # Set even when empty, so that Strawberry does not validate again.
        context.pre_execution_errors = errors
        yield
