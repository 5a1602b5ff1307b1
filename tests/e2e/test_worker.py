"""The reference worker, a real process against a real server: work is never lost and never done twice."""

import asyncio
import logging
import os
import signal
import subprocess
import sys

import pytest

from tests.e2e.conftest import PROJECT_DIR
from worker.client import Client
from worker.worker import Settings, Worker

WAIT_SECONDS = 90

CREATE = "mutation($title: String!) { createSubmission(input: {title: $title}) { id } }"
ADD = "mutation($input: AddRecordsInput!) { addRecords(input: $input) }"
LOADED = """mutation($id: ID!) {
  updateSubmissionStatus(input: {id: $id, status: LOADED, message: "Import finished"}) { version } }"""
REQUEST_VALIDATION = "mutation($id: ID!) { requestValidation(submissionId: $id) { status } }"
REQUEST_SUBMISSION = "mutation($id: ID!) { requestSubmission(submissionId: $id) { status } }"
UPDATE_RECORD = "mutation($input: UpdateRecordInput!) { updateRecord(input: $input) { name } }"
STATUS = """subscription($id: ID!) { submissionStatus(submissionId: $id) {
  status message version progress { phase done total } } }"""
DETAILS = """query($id: ID!) { submission(id: $id) { status message
  validationSummary { animals { total issues unknown } samples { total issues unknown }
    messages { kind message offendingColumn count recordNames } }
  records { kind name accession } } }"""


def animal(name, **attributes):
    return {
        "kind": "ANIMAL",
        "name": name,
        "attributes": {"breed": "Angus", "sex": "female", "birth_date": "2024-03-01", **attributes},
    }


def sample(name, **attributes):
    return {
        "kind": "SAMPLE",
        "name": name,
        "attributes": {"animal": "cow-1", "collection_date": "2025-05-01", "tissue": "blood", **attributes},
    }


class Setup:
    """A running server with an owner and a service, and the worker processes a test starts."""

    def __init__(self, project, server):
        self.project = project
        self.server = server
        self.service_token = project.manage("create_api_token", "pipeline", "--create-user", "--service").strip()
        self.owner_token = project.manage("create_api_token", "olivia", "--create-user").strip()
        self.owner = Client(server.http_url, self.owner_token)
        self.service = Client(server.http_url, self.service_token)
        self.workers: list[subprocess.Popen] = []

    def loaded_submission(self, records: list[dict], title="Herd") -> str:
        submission_id = self.owner.execute(CREATE, {"title": title})["createSubmission"]["id"]
        self.service.execute(ADD, {"input": {"submissionId": submission_id, "records": records}})
        self.service.execute(LOADED, {"id": submission_id})
        return submission_id

    def start_worker(self, name: str, *options: str) -> subprocess.Popen:
        log = (self.project.folder / f"worker-{name}.log").open("w")
        process = subprocess.Popen(
            [sys.executable, "manage.py", "run_worker", "--url", self.server.http_url, "--name", name, *options],
            cwd=PROJECT_DIR,
            env={**self.project.env, "WORKER_TOKEN": self.service_token},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.workers.append(process)
        return process

    async def validation_under_way(
        self, count: int, name: str, *options: str, title="Herd"
    ) -> tuple[str, subprocess.Popen]:
        """A validation of `count` animals begun by a slow worker (batches of 10, half a second apart)."""
        submission_id = self.loaded_submission([animal(f"cow-{n}") for n in range(1, count + 1)], title=title)
        self.owner.execute(REQUEST_VALIDATION, {"id": submission_id})
        worker = self.start_worker(name, "--batch-size", "10", "--pause-seconds", "0.5", *options)
        await self.wait_for(submission_id, lambda event: (event["progress"] or {}).get("done", 0) >= 10)
        return submission_id, worker

    def stop(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=10)

    def requests(self) -> list[tuple]:
        """(submission id, kind, state, attempts, worker) of every work request, from the database."""
        out = self.project.python(
            "from submissions.models import WorkRequest\n"
            "for r in WorkRequest.objects.order_by('id'): print(r.submission_id, r.kind, r.state, r.attempts, r.worker)"
        )
        return [tuple(line.split(" ")) for line in out.splitlines()]

    async def wait_for(self, submission_id: str, done) -> dict:
        """The first event of the submission for which done(event) holds."""

        async def follow():
            async for data in self.owner.subscribe(STATUS, {"id": submission_id}):
                if done(data["submissionStatus"]):
                    return data["submissionStatus"]

        return await asyncio.wait_for(follow(), WAIT_SECONDS)


@pytest.fixture
def sqlite_setup(project):
    setup = Setup(project, project.start_server())
    yield setup
    setup.stop()


@pytest.fixture
def postgres_setup(cluster):
    setup = Setup(cluster, cluster.start_server())
    yield setup
    setup.stop()


def settled(event) -> bool:
    return event["status"] in {"READY", "NEED_REVISION", "COMPLETED", "ERROR"}


async def test_a_validation_requested_while_no_worker_runs_is_done_once_a_worker_starts(sqlite_setup):
    setup = sqlite_setup
    submission_id = setup.loaded_submission(
        [
            animal("cow-1"),
            animal("cow-2", birth_date="2024-13-01"),
            animal("cow-3", sex=""),
            sample("blood-1"),
            sample("blood-2", animal="cow-9"),
        ]
    )
    setup.owner.execute(REQUEST_VALIDATION, {"id": submission_id})
    assert setup.requests() == [(submission_id, "VALIDATION", "PENDING", "0", "")]

    setup.start_worker("w1", "--poll-seconds", "30")
    final = await setup.wait_for(submission_id, settled)

    assert (final["status"], final["message"]) == ("NEED_REVISION", "Validation found issues in 3 records")
    summary = setup.owner.execute(DETAILS, {"id": submission_id})["submission"]["validationSummary"]
    assert {(m["kind"], m["message"], m["offendingColumn"], tuple(m["recordNames"])) for m in summary["messages"]} == {
        ("ANIMAL", "Not an ISO-8601 date (YYYY-MM-DD)", "birth_date", ("cow-2",)),
        ("ANIMAL", "Missing required attribute", "sex", ("cow-3",)),
        ("SAMPLE", "No animal of this submission has this name", "animal", ("blood-2",)),
    }
    assert setup.requests() == [(submission_id, "VALIDATION", "DONE", "1", "w1")]


async def test_the_owner_fixes_the_records_validates_again_and_submits_and_the_archive_accessions_them(sqlite_setup):
    setup = sqlite_setup
    submission_id = setup.loaded_submission([animal("cow-1"), animal("cow-2", sex="unknown"), sample("blood-1")])
    setup.start_worker("w1", "--poll-seconds", "30")

    setup.owner.execute(REQUEST_VALIDATION, {"id": submission_id})
    assert (await setup.wait_for(submission_id, settled))["status"] == "NEED_REVISION"
    fixed = animal("cow-2", sex="male")
    setup.owner.execute(UPDATE_RECORD, {"input": {"submissionId": submission_id, **fixed}})
    setup.owner.execute(REQUEST_VALIDATION, {"id": submission_id})
    assert (await setup.wait_for(submission_id, settled))["status"] == "READY"
    setup.owner.execute(REQUEST_SUBMISSION, {"id": submission_id})
    final = await setup.wait_for(submission_id, lambda event: event["status"] in {"COMPLETED", "ERROR"})

    assert (final["status"], final["message"]) == ("COMPLETED", "Submitted to the archive: 3 records accessioned")
    records = setup.owner.execute(DETAILS, {"id": submission_id})["submission"]["records"]
    accessions = [record["accession"] for record in records]
    assert all(accession and accession.startswith("SAMEA") for accession in accessions)
    assert len(set(accessions)) == 3


async def test_a_submission_the_archive_refuses_ends_in_error_with_its_reason(sqlite_setup):
    setup = sqlite_setup
    submission_id = setup.loaded_submission([animal("cow-1"), sample("blood-1", collection_date="2024-01-01")])
    setup.start_worker("w1", "--poll-seconds", "30")
    setup.owner.execute(REQUEST_VALIDATION, {"id": submission_id})
    assert (await setup.wait_for(submission_id, settled))["status"] == "READY"

    setup.owner.execute(REQUEST_SUBMISSION, {"id": submission_id})
    final = await setup.wait_for(submission_id, lambda event: event["status"] in {"COMPLETED", "ERROR"})

    assert (final["status"], final["message"]) == (
        "ERROR",
        "The archive refused sample blood-1: collected before its animal was born",
    )
    assert [r[2] for r in setup.requests()] == ["DONE", "FAILED"]


async def test_a_worker_killed_mid_validation_leaves_the_request_to_another_worker_after_its_lease(sqlite_setup):
    setup = sqlite_setup
    submission_id, first = await setup.validation_under_way(200, "doomed", "--lease-seconds", "3")

    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert setup.owner.execute(DETAILS, {"id": submission_id})["submission"]["status"] == "WAITING"
    setup.start_worker("rescuer", "--lease-seconds", "3", "--poll-seconds", "0.5", "--batch-size", "100")
    final = await setup.wait_for(submission_id, settled)

    assert (final["status"], final["message"]) == ("READY", "Validation passed")
    assert setup.requests() == [(submission_id, "VALIDATION", "DONE", "2", "rescuer")]


async def test_a_submission_deleted_mid_work_leaves_the_worker_running_and_taking_the_next_request(sqlite_setup):
    setup = sqlite_setup
    doomed, worker = await setup.validation_under_way(100, "w1", "--poll-seconds", "0.5", title="Doomed")

    # An operator deletes it (as the admin does), whatever its status: the worker's next call finds nothing.
    setup.project.python(f"from submissions.models import Submission; Submission.objects.filter(pk={doomed}).delete()")
    following = setup.loaded_submission([animal("cow-1")], title="Next")
    setup.owner.execute(REQUEST_VALIDATION, {"id": following})
    final = await setup.wait_for(following, settled)

    assert (final["status"], final["message"]) == ("READY", "Validation passed")
    assert worker.poll() is None
    assert setup.requests() == [(following, "VALIDATION", "DONE", "1", "w1")]


async def test_a_worker_whose_server_restarts_reconnects_with_back_off_and_resumes_its_claimed_work(sqlite_setup):
    setup = sqlite_setup
    submission_id, worker = await setup.validation_under_way(100, "w1", "--poll-seconds", "0.5")

    port = setup.server.port
    setup.server.stop()
    setup.server = setup.project.start_server(port=port)
    final = await setup.wait_for(submission_id, settled)

    assert (final["status"], final["message"]) == ("READY", "Validation passed")
    # Resumed under the lease it held, not claimed again.
    assert setup.requests() == [(submission_id, "VALIDATION", "DONE", "1", "w1")]
    following = setup.loaded_submission([animal("cow-1")], title="After the restart")
    setup.owner.execute(REQUEST_VALIDATION, {"id": following})
    assert (await setup.wait_for(following, settled))["status"] == "READY"
    assert worker.poll() is None
    assert "Server unreachable" in (setup.project.folder / "worker-w1.log").read_text()


async def test_a_worker_whose_claims_get_graphql_errors_keeps_trying(sqlite_setup):
    # The server answers a claim with `errors` (here a lease it refuses; in life, an internal error).
    failures = asyncio.Event()
    seen = []

    class Failures(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith("Could not claim work"):
                seen.append(record)
                if len(seen) >= 3:
                    failures.set()

    handler = Failures()
    logging.getLogger("worker").addHandler(handler)
    settings = Settings(lease_seconds=10**6, first_retry_seconds=0.01, max_retry_seconds=0.05)
    running = asyncio.create_task(Worker(sqlite_setup.service, settings).run())
    try:
        await asyncio.wait_for(failures.wait(), WAIT_SECONDS)
        assert not running.done()
    finally:
        running.cancel()
        logging.getLogger("worker").removeHandler(handler)
    assert "leaseSeconds" in seen[0].getMessage()


async def _two_workers_take_each_request_once(setup):
    submissions = [setup.loaded_submission([animal("cow-1")], title=f"S{n}") for n in range(12)]
    for submission_id in submissions:
        setup.owner.execute(REQUEST_VALIDATION, {"id": submission_id})

    for name in ("w1", "w2"):
        setup.start_worker(name, "--poll-seconds", "0.5", "--pause-seconds", "0.05")
    for submission_id in submissions:
        assert (await setup.wait_for(submission_id, settled))["status"] == "READY"

    found = setup.requests()
    assert len(found) == 12
    # Each claimed exactly once: no request was held by both workers.
    assert {(state, attempts) for _, _, state, attempts, _ in found} == {("DONE", "1")}


async def test_two_worker_processes_never_take_the_same_request_on_sqlite(sqlite_setup):
    await _two_workers_take_each_request_once(sqlite_setup)


async def test_two_worker_processes_never_take_the_same_request_on_postgresql(postgres_setup):
    await _two_workers_take_each_request_once(postgres_setup)


def test_the_worker_needs_a_token(project):
    result = subprocess.run(
        [sys.executable, "manage.py", "run_worker"],
        cwd=PROJECT_DIR,
        env={key: value for key, value in project.env.items() if key != "WORKER_TOKEN"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "WORKER_TOKEN" in result.stderr


def test_the_worker_package_imports_nothing_of_the_server():
    code = (
        "import sys, worker.worker, worker.client, worker.validation, worker.archive\n"
        "server = {'django', 'api', 'submissions', 'live', 'strawberry', 'channels'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & server))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
    )
    assert result.stdout.strip() == "[]", result.stderr
