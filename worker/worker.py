"""The worker: hears of work (workRequests), claims it under a lease, does it, and reports as it goes.

    subscribe workRequests ----> a notice wakes the loop (also woken every poll_seconds:
                                 notices are hints, and a dead worker's lease runs out silently)
    claimWorkRequest ----------> one request, this worker's alone while the lease holds
      renewWorkLease ..........  every lease_seconds / 3, while working
      VALIDATION: records -> rules -> recordValidationResults in batches, reportProgress
      SUBMISSION: records -> archive -> recordAccessions in batches, reportProgress
    completeWorkRequest -------> READY / NEED_REVISION / COMPLETED (or failWorkRequest -> ERROR)

When the server cannot be reached, every call is retried with back-off,
and the work in hand resumes where it was: its lease is renewed as soon as
the server answers again.
"""

import asyncio
import logging
import random
from dataclasses import dataclass

from worker.archive import Archive, ArchiveRefused
from worker.client import Client, GraphQLError, Unreachable
from worker.validation import validate

logger = logging.getLogger("worker")

WORK_REQUESTS = "subscription { workRequests { requestId submissionId kind } }"
CLAIM = """mutation($input: ClaimWorkRequestInput!) {
  claimWorkRequest(input: $input) { id kind submissionId leaseId attempts } }"""
RENEW = "mutation($input: RenewWorkLeaseInput!) { renewWorkLease(input: $input) { leaseExpiresAt } }"
COMPLETE = "mutation($input: CompleteWorkRequestInput!) { completeWorkRequest(input: $input) { state } }"
FAIL = "mutation($input: FailWorkRequestInput!) { failWorkRequest(input: $input) { state } }"
RECORDS = """query($id: ID!, $first: Int!, $offset: Int!) {
  submission(id: $id) { records(first: $first, offset: $offset) { kind name attributes accession } } }"""
PROGRESS = "mutation($input: ReportProgressInput!) { reportProgress(input: $input) { version } }"
RESULTS = """mutation($input: RecordValidationResultsInput!) {
  recordValidationResults(input: $input) { animals { unknown } } }"""
ACCESSIONS = "mutation($input: RecordAccessionsInput!) { recordAccessions(input: $input) }"

RECORDS_PAGE = 1000
# The submission is then in ERROR, where Validate is not offered: say what the owner can do.
FAILED_IN_THE_WORKER = (
    "{kind} failed in the worker. Ask the service's operators to look into it, "
    "or delete this submission and upload its records again."
)


@dataclass
class Settings:
    name: str = "worker"
    lease_seconds: int = 60
    poll_seconds: float = 10.0
    batch_size: int = 100
    pause_seconds: float = 0.0  # between batches: gentler on a busy server
    first_retry_seconds: float = 0.5
    max_retry_seconds: float = 15.0


class LeaseLost(Exception):
    """Another worker holds the request now (this one was too slow to renew): drop it."""


class Worker:
    def __init__(self, client: Client, settings: Settings | None = None, archive: Archive | None = None):
        self.client = client
        self.settings = settings or Settings()
        self.archive = archive or Archive()

    async def run(self) -> None:
        """Work until cancelled."""
        wake = asyncio.Event()
        listening = asyncio.create_task(self._listen(wake))
        ready = False
        try:
            delay = self.settings.first_retry_seconds
            while True:
                wake.clear()
                try:
                    request = await self._call(CLAIM, {"input": self._claim_input()})
                except GraphQLError as error:  # an internal error comes as 200 with `errors`: it may pass
                    logger.warning("Could not claim work (%s); again in %.1f s", error, delay)
                    await asyncio.sleep(delay)
                    delay = self._next_delay(delay)
                    continue
                delay = self.settings.first_retry_seconds
                if not ready:
                    ready = True
                    logger.info("Listening for work at %s as %s", self.client.url, self.settings.name)
                if request["claimWorkRequest"] is not None:
                    await self.handle(request["claimWorkRequest"])
                    continue
                try:
                    await asyncio.wait_for(wake.wait(), self.settings.poll_seconds)
                except TimeoutError:
                    pass
        finally:
            listening.cancel()

    def _claim_input(self) -> dict:
        return {"worker": self.settings.name, "leaseSeconds": self.settings.lease_seconds}

    async def _listen(self, wake: asyncio.Event) -> None:
        delay = self.settings.first_retry_seconds
        while True:
            try:
                async for _notice in self.client.subscribe(WORK_REQUESTS):
                    delay = self.settings.first_retry_seconds
                    wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the server restarting, a proxy timing out: listen again
                logger.info("Not listening for work (%s); again in %.1f s", error, delay)
            await asyncio.sleep(delay)
            delay = self._next_delay(delay)

    def _next_delay(self, delay: float) -> float:
        return min(delay * 2, self.settings.max_retry_seconds) * random.uniform(0.8, 1.0)

    async def _call(self, query: str, variables: dict) -> dict:
        """Execute, retrying with back-off while the server cannot be reached."""
        delay = self.settings.first_retry_seconds
        while True:
            try:
                return await asyncio.to_thread(self.client.execute, query, variables)
            except Unreachable as error:
                logger.warning("Server unreachable (%s); retrying in %.1f s", error, delay)
                await asyncio.sleep(delay)
                delay = self._next_delay(delay)

    # One request.

    async def handle(self, request: dict) -> None:
        """Do one claimed request, keeping its lease, and end it (complete or fail)."""
        logger.info("Claimed %s of submission %s", request["kind"], request["submissionId"])
        doing = asyncio.create_task(self._do(request))
        keeping = asyncio.create_task(self._keep_lease(request["leaseId"], doing))
        try:
            await doing
        except asyncio.CancelledError:
            if not keeping.done():
                raise
            logger.warning("Lost the lease of submission %s: another worker has it", request["submissionId"])
        except LeaseLost:
            logger.warning("Lost the lease of submission %s: another worker has it", request["submissionId"])
        except ArchiveRefused as refusal:
            await self._give_up(request, str(refusal))
        except Exception:
            logger.exception("%s of submission %s failed", request["kind"], request["submissionId"])
            await self._give_up(request, FAILED_IN_THE_WORKER.format(kind=request["kind"].capitalize()))
        finally:
            keeping.cancel()

    async def _give_up(self, request: dict, message: str) -> None:
        # Whatever happens here, the worker goes on to the next request: the
        # submission may be gone (deleted mid-work), the lease handed on, or
        # the server failing; the request then ends on the server's side.
        try:
            await self._end(FAIL, request, message=message)
        except (LeaseLost, GraphQLError) as error:
            logger.warning("Could not report the failure of submission %s (%s)", request["submissionId"], error)

    async def _keep_lease(self, lease_id: str, doing: asyncio.Task) -> None:
        while True:
            await asyncio.sleep(self.settings.lease_seconds / 3)
            try:
                await self._call(RENEW, {"input": {"leaseId": lease_id, "leaseSeconds": self.settings.lease_seconds}})
            except GraphQLError as error:
                if error.code == "NOT_FOUND":
                    doing.cancel()
                    return

    async def _end(self, mutation: str, request: dict, **fields) -> None:
        try:
            await self._call(mutation, {"input": {"leaseId": request["leaseId"], **fields}})
        except GraphQLError as error:
            if error.code != "NOT_FOUND":
                raise
            raise LeaseLost() from error

    async def _do(self, request: dict) -> None:
        if request["kind"] == "VALIDATION":
            await self.validate(request)
        else:
            await self.submit(request)

    async def _records(self, submission_id: str) -> list[dict]:
        records, offset = [], 0
        while True:
            page = await self._call(RECORDS, {"id": submission_id, "first": RECORDS_PAGE, "offset": offset})
            records += page["submission"]["records"]
            if len(page["submission"]["records"]) < RECORDS_PAGE:
                return records
            offset += RECORDS_PAGE

    async def _progress(self, request: dict, phase: str, done: int, total: int) -> None:
        report = {"submissionId": request["submissionId"], "phase": phase, "done": done, "total": total}
        await self._call(PROGRESS, {"input": {**report, "leaseId": request["leaseId"]}})

    def _batches(self, items: list) -> list[list]:
        size = self.settings.batch_size
        return [items[start : start + size] for start in range(0, len(items), size)]

    async def validate(self, request: dict) -> None:
        """Check every record against the rules; record the results in batches; complete (READY or NEED_REVISION)."""
        submission_id = request["submissionId"]
        records = await self._records(submission_id)
        results, done = validate(records), 0
        await self._progress(request, "Validating", 0, len(results))
        for batch in self._batches(results):
            await self._call(
                RESULTS, {"input": {"submissionId": submission_id, "results": batch, "leaseId": request["leaseId"]}}
            )
            done += len(batch)
            await self._progress(request, "Validating", done, len(results))
            await asyncio.sleep(self.settings.pause_seconds)
        await self._end(COMPLETE, request)

    async def submit(self, request: dict) -> None:
        """Submit the records the archive has not accessioned yet; record their accessions; complete (COMPLETED)."""
        submission_id = request["submissionId"]
        records = await self._records(submission_id)
        animals = {record["name"]: record["attributes"] for record in records if record["kind"] == "ANIMAL"}
        waiting = [record for record in records if not record["accession"]]
        done = len(records) - len(waiting)
        await self._progress(request, "Submitting to the archive", done, len(records))
        # The archive takes or refuses the submission whole, before any accession is recorded.
        accessions = self.archive.submit(submission_id, waiting, animals=animals)
        items = [{"kind": kind, "name": name, "accession": value} for (kind, name), value in accessions.items()]
        for batch in self._batches(items):
            await self._call(ACCESSIONS, {"input": {"submissionId": submission_id, "accessions": batch}})
            done += len(batch)
            await self._progress(request, "Submitting to the archive", done, len(records))
            await asyncio.sleep(self.settings.pause_seconds)
        await self._end(COMPLETE, request)
