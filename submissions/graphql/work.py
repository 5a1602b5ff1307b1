"""Services claim work requests under a lease, renew, complete or fail them, and record accessions."""

import strawberry
from strawberry.types import Info

from submissions import work
from submissions.graphql.inputs import (
    ClaimWorkRequestInput,
    CompleteWorkRequestInput,
    FailWorkRequestInput,
    RecordAccessionsInput,
    RenewWorkLeaseInput,
)
from submissions.graphql.mutations import in_service_thread, run_on_visible
from submissions.graphql.permissions import require_service
from submissions.graphql.types import WorkRequest


@strawberry.type
class WorkMutation:
    @strawberry.mutation(
        description="Services: takes the oldest pending request (or one whose lease ran out) under a new lease; "
        "null when there is none. Each request is held by one worker at a time."
    )
    async def claim_work_request(self, info: Info, input: ClaimWorkRequestInput) -> WorkRequest | None:
        require_service(info)
        request = await in_service_thread(work.work_request_claim)(
            worker=input.worker, kinds=input.kinds, lease_seconds=input.lease_seconds
        )
        return WorkRequest.from_model(request, with_lease=True) if request else None

    @strawberry.mutation(description="Services: extends a lease from now; NOT_FOUND once it was handed on.")
    async def renew_work_lease(self, info: Info, input: RenewWorkLeaseInput) -> WorkRequest:
        require_service(info)
        request = await in_service_thread(work.work_lease_renew)(
            lease_id=input.lease_id, lease_seconds=input.lease_seconds
        )
        return WorkRequest.from_model(request, with_lease=True)

    @strawberry.mutation(
        description="Services: ends the work and sets the status it leads to (validation: READY or "
        "NEED_REVISION from the records' results; submission: COMPLETED)."
    )
    async def complete_work_request(self, info: Info, input: CompleteWorkRequestInput) -> WorkRequest:
        require_service(info)
        request = await in_service_thread(work.work_request_complete)(lease_id=input.lease_id, message=input.message)
        return WorkRequest.from_model(request)

    @strawberry.mutation(
        description="Services: gives the work up; the submission goes to ERROR with the message, "
        "or with retry the request waits for another claim."
    )
    async def fail_work_request(self, info: Info, input: FailWorkRequestInput) -> WorkRequest:
        require_service(info)
        request = await in_service_thread(work.work_request_fail)(
            lease_id=input.lease_id, message=input.message, retry=input.retry
        )
        return WorkRequest.from_model(request)

    @strawberry.mutation(
        description="Services: stores the archive's accessions of records of a Submitted submission, all or none; "
        "returns how many."
    )
    async def record_accessions(self, info: Info, input: RecordAccessionsInput) -> int:
        viewer = require_service(info)
        accessions = [{"kind": a.kind, "name": a.name, "accession": a.accession} for a in input.accessions]
        return await in_service_thread(run_on_visible)(
            work.accessions_record, viewer=viewer, submission_id=input.submission_id, accessions=accessions
        )
