import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import strawberry
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connections
from strawberry.types import Info

from submissions import selectors, services
from submissions.exceptions import Forbidden
from submissions.graphql.inputs import (
    AddRecordsInput,
    CreateSubmissionInput,
    RecordValidationResultsInput,
    ReportProgressInput,
    UpdateSubmissionStatusInput,
)
from submissions.graphql.permissions import require_service, require_viewer
from submissions.graphql.types import Submission, SubmissionStatusEvent, ValidationSummary

# Service mutations run on a pool of SERVICE_THREADS threads (settings),
# each with its own database connection kept between calls, and not on the
# thread that sync_to_async(thread_sensitive=True) gives each request
# (Django's ASGI handler makes a new one, and so a new connection, per
# request): concurrent changes to different submissions overlap, and a change
# pays for no thread or connection set-up. The services are thread-safe (row
# locks; events in order). With 0, they run on the request's thread, as
# Django does by default (unit tests whose data sits in one open transaction).
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def _service_threads() -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None:
            _pool_size = settings.SERVICE_THREADS
            _pool = ThreadPoolExecutor(max_workers=_pool_size, thread_name_prefix="service")
        return _pool


def in_service_thread(function):
    """`function` as a coroutine run on the service threads."""
    if not settings.SERVICE_THREADS:
        return sync_to_async(function)

    def call(*args, **kwargs):
        # As Django does around each request: drop a connection the database
        # has closed (a restart) or that is past its CONN_MAX_AGE.
        close_old_connections()
        return function(*args, **kwargs)

    async def run(*args, **kwargs):
        # The executor itself: nothing here needs sync_to_async's context
        # handling, which costs more per call than a status change's query.
        return await asyncio.get_running_loop().run_in_executor(_service_threads(), partial(call, *args, **kwargs))

    return run


def close_service_connections() -> None:
    """Close the database connections of every service thread (at shutdown, or at the end of a test)."""
    if _pool is None:
        return
    # Each thread waits at the barrier until all have their task, so every one gets exactly one.
    barrier = threading.Barrier(_pool_size)

    def close() -> None:
        barrier.wait()
        connections.close_all()

    for done in [_pool.submit(close) for _ in range(_pool_size)]:
        done.result()


def run_on_visible(service, *, viewer, submission_id, **kwargs):
    """Call `service` on the submission `viewer` may see (sync; run in a thread)."""
    if viewer.is_service:
        # Services may change every submission: the service's own locking read
        # finds it (or answers NotFound), with no read before it.
        submission = selectors.parse_submission_id(submission_id)
    else:
        submission = selectors.submission_get(viewer=viewer, submission_id=submission_id)
    return service(submission=submission, **kwargs)


def _delete(*, viewer, submission_id) -> str:
    submission = selectors.submission_get(viewer=viewer, submission_id=submission_id)
    if submission.owner_id != viewer.user.pk:
        raise Forbidden("Only its owner may delete a submission.")
    services.submission_delete(submission=submission)
    return str(submission.pk)


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def create_submission(self, info: Info, input: CreateSubmissionInput) -> Submission:
        viewer = require_viewer(info)
        submission = await in_service_thread(services.submission_create)(
            owner=viewer.user, title=input.title, description=input.description
        )
        return Submission.from_model(submission)

    @strawberry.mutation(description="Deletes one's own submission when its actions allow; returns its id.")
    async def delete_submission(self, info: Info, id: strawberry.ID) -> strawberry.ID:
        viewer = require_viewer(info)
        return strawberry.ID(await in_service_thread(_delete)(viewer=viewer, submission_id=id))

    @strawberry.mutation
    async def update_submission_status(self, info: Info, input: UpdateSubmissionStatusInput) -> SubmissionStatusEvent:
        viewer = require_service(info)
        event = await in_service_thread(run_on_visible)(
            services.set_status,
            viewer=viewer,
            submission_id=input.id,
            status=input.status,
            message=input.message,
            include_validation=input.include_validation,
            force=input.force,
        )
        return SubmissionStatusEvent.from_event(event)

    @strawberry.mutation(description="Adds records, all or none; returns how many were added.")
    async def add_records(self, info: Info, input: AddRecordsInput) -> int:
        viewer = require_service(info)
        records = [{"kind": r.kind, "name": r.name, "attributes": r.attributes or {}} for r in input.records]
        return await in_service_thread(run_on_visible)(
            services.records_add, viewer=viewer, submission_id=input.submission_id, records=records
        )

    @strawberry.mutation
    async def record_validation_results(self, info: Info, input: RecordValidationResultsInput) -> ValidationSummary:
        viewer = require_service(info)
        results = [
            {
                "kind": r.kind,
                "name": r.name,
                "outcome": r.outcome,
                "messages": [{"message": m.message, "offending_column": m.offending_column} for m in r.messages],
            }
            for r in input.results
        ]
        summary = await in_service_thread(run_on_visible)(
            services.validation_results_record,
            viewer=viewer,
            submission_id=input.submission_id,
            results=results,
            complete=input.complete,
            lease_id=input.lease_id,
        )
        return ValidationSummary.from_summary(summary)

    @strawberry.mutation
    async def report_progress(self, info: Info, input: ReportProgressInput) -> SubmissionStatusEvent:
        viewer = require_service(info)
        event = await in_service_thread(run_on_visible)(
            services.progress_report,
            viewer=viewer,
            submission_id=input.submission_id,
            phase=input.phase,
            done=input.done,
            total=input.total,
            lease_id=input.lease_id,
        )
        return SubmissionStatusEvent.from_event(event)
