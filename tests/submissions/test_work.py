"""Work requests on the service side: one worker at a time under a lease, completed or failed with the status."""

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from submissions import requests, services, work
from submissions.models import Record, RecordKind, Status, Submission, WorkRequest
from tests.conftest import error_codes, make_caller

ANIMAL = RecordKind.ANIMAL.value

CLAIM = """mutation($input: ClaimWorkRequestInput!) { claimWorkRequest(input: $input) {
  id kind submissionId state attempts leaseId leaseExpiresAt worker } }"""
RENEW = """mutation($input: RenewWorkLeaseInput!) { renewWorkLease(input: $input) { leaseExpiresAt } }"""
COMPLETE = """mutation($input: CompleteWorkRequestInput!) { completeWorkRequest(input: $input) { state } }"""
FAIL = """mutation($input: FailWorkRequestInput!) { failWorkRequest(input: $input) { state } }"""
ACCESSIONS = """mutation($input: RecordAccessionsInput!) { recordAccessions(input: $input) }"""


def fresh(submission) -> Submission:
    return Submission.objects.get(pk=submission.pk)


def loaded_submission(owner_user, *, title="Herd", records=2) -> Submission:
    submission = services.submission_create(owner=owner_user, title=title)
    services.records_add(
        submission=submission,
        records=[{"kind": ANIMAL, "name": f"cow-{n}", "attributes": {}} for n in range(records)],
    )
    services.set_status(submission, Status.LOADED, "Import finished")
    return submission


@pytest.fixture
def requested(owner):
    """A submission whose owner asked for validation."""
    return requests.validation_request(submission=loaded_submission(owner.user))


def claim(worker="w1", **options):
    return work.work_request_claim(worker=worker, **options)


def results(submission, outcome="PASS"):
    names = Record.objects.filter(submission=submission).values_list("name", flat=True)
    return [{"kind": ANIMAL, "name": name, "outcome": outcome} for name in names]


# Claims


@pytest.mark.django_db
def test_a_claim_takes_the_pending_request_under_a_lease(requested):
    before = timezone.now()

    request = claim(lease_seconds=30)

    assert (request.submission_id, request.kind, request.state, request.worker, request.attempts) == (
        requested.pk,
        "VALIDATION",
        "CLAIMED",
        "w1",
        1,
    )
    assert request.lease_id
    assert before + timedelta(seconds=29) < request.lease_expires_at <= timezone.now() + timedelta(seconds=30)


@pytest.mark.django_db
def test_a_claimed_request_is_not_handed_to_a_second_worker_while_its_lease_holds(requested):
    claim("w1")

    assert claim("w2") is None


@pytest.mark.django_db
def test_a_request_whose_lease_ran_out_is_handed_out_again_under_a_new_lease(requested):
    first = claim("w1")
    WorkRequest.objects.filter(pk=first.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))

    second = claim("w2")

    assert (second.pk, second.worker, second.attempts) == (first.pk, "w2", 2)
    assert second.lease_id != first.lease_id
    with pytest.raises(work.NotFound):
        work.work_lease_renew(lease_id=first.lease_id)
    with pytest.raises(work.NotFound):
        work.work_request_complete(lease_id=first.lease_id)


@pytest.mark.django_db
def test_requests_are_claimed_oldest_first_and_only_of_the_kinds_asked_for(owner):
    older = requests.validation_request(submission=loaded_submission(owner.user, title="A"))
    newer = requests.validation_request(submission=loaded_submission(owner.user, title="B"))

    assert claim(kinds=["SUBMISSION"]) is None
    assert claim(kinds=["VALIDATION"]).submission_id == older.pk
    assert claim().submission_id == newer.pk
    assert claim() is None


@pytest.mark.django_db
@pytest.mark.parametrize("lease_seconds", [0, -5, work.MAX_LEASE_SECONDS + 1])
def test_a_lease_out_of_bounds_is_bad_user_input_and_claims_nothing(requested, lease_seconds):
    with pytest.raises(work.BadUserInput):
        claim(lease_seconds=lease_seconds)
    assert WorkRequest.objects.get().state == "PENDING"


@pytest.mark.django_db
def test_a_lease_is_renewed_from_now(requested):
    request = claim(lease_seconds=5)

    renewed = work.work_lease_renew(lease_id=request.lease_id, lease_seconds=600)

    assert renewed.lease_expires_at > timezone.now() + timedelta(seconds=590)


# Completing and failing


@pytest.mark.django_db
def test_completing_a_clean_validation_makes_the_submission_ready_and_ends_the_request(requested):
    request = claim()
    services.validation_results_record(submission=requested, results=results(requested))

    work.work_request_complete(lease_id=request.lease_id)

    stored = fresh(requested)
    assert (stored.status, stored.message) == (Status.READY, "Validation passed")
    ended = WorkRequest.objects.get()
    assert (ended.state, ended.lease_id) == ("DONE", None)
    with pytest.raises(work.NotFound):
        work.work_request_complete(lease_id=request.lease_id)


@pytest.mark.django_db
def test_completing_a_validation_with_issues_needs_revision(requested):
    request = claim()
    services.validation_results_record(submission=requested, results=results(requested, "ERROR"))

    work.work_request_complete(lease_id=request.lease_id)

    stored = fresh(requested)
    assert (stored.status, stored.message) == (Status.NEED_REVISION, "Validation found issues in 2 records")


@pytest.mark.django_db
def test_a_submission_completes_once_every_record_has_its_accession(requested):
    validation = claim()
    services.validation_results_record(submission=requested, results=results(requested))
    work.work_request_complete(lease_id=validation.lease_id)
    requests.submission_request(submission=requested)
    request = claim()
    names = list(Record.objects.filter(submission=requested).values_list("name", flat=True))

    with pytest.raises(work.BadUserInput):  # no accessions yet
        work.work_request_complete(lease_id=request.lease_id)
    assert fresh(requested).status == Status.SUBMITTED
    work.accessions_record(
        submission=requested,
        accessions=[{"kind": ANIMAL, "name": name, "accession": f"SAMEA{n}"} for n, name in enumerate(names)],
    )
    work.work_request_complete(lease_id=request.lease_id)

    stored = fresh(requested)
    assert (stored.status, stored.message) == (Status.COMPLETED, "Submitted to the archive: 2 records accessioned")
    assert sorted(Record.objects.values_list("accession", flat=True)) == ["SAMEA0", "SAMEA1"]


@pytest.mark.django_db
def test_accessions_are_refused_unless_the_submission_is_submitted(requested):
    with pytest.raises(work.InvalidTransition):
        work.accessions_record(submission=requested, accessions=[{"kind": ANIMAL, "name": "cow-0", "accession": "X"}])
    assert set(Record.objects.values_list("accession", flat=True)) == {""}


@pytest.mark.django_db
def test_failed_work_sets_the_submission_to_error_with_the_message(requested):
    request = claim()

    work.work_request_fail(lease_id=request.lease_id, message="The archive refused cow-1: duplicate")

    stored = fresh(requested)
    assert (stored.status, stored.message) == (Status.ERROR, "The archive refused cow-1: duplicate")
    assert WorkRequest.objects.get().state == "FAILED"


@pytest.mark.django_db
def test_work_given_back_for_a_retry_is_claimable_again_and_the_status_is_unchanged(requested):
    request = claim("w1")
    version = fresh(requested).version

    work.work_request_fail(lease_id=request.lease_id, message="Shutting down", retry=True)

    assert fresh(requested).version == version
    assert claim("w2").worker == "w2"


def expire(request) -> None:
    WorkRequest.objects.filter(pk=request.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))


@pytest.mark.django_db
def test_a_request_claimed_the_maximum_number_of_times_is_not_handed_out_again_and_its_submission_errs(owner, settings):
    settings.WORK_MAX_ATTEMPTS = 2
    doomed = requests.validation_request(submission=loaded_submission(owner.user, title="A"))
    expire(claim("w1"))
    expire(claim("w2"))
    version = fresh(doomed).version
    other = requests.validation_request(submission=loaded_submission(owner.user, title="B"))

    request = claim("w3")

    assert request.submission_id == other.pk  # the exhausted one was skipped, not handed out a third time
    stored = fresh(doomed)
    assert stored.status == Status.ERROR
    assert stored.message.startswith("Validation failed repeatedly (2 attempts) and was stopped.")
    assert stored.version == version + 1  # a change like any other, published through the services
    given_up = WorkRequest.objects.get(submission=doomed)
    assert (given_up.state, given_up.attempts, given_up.lease_id) == ("FAILED", 2, None)
    assert claim("w4") is None


@pytest.mark.django_db
def test_a_request_given_back_the_maximum_number_of_times_fails_too(requested, settings):
    settings.WORK_MAX_ATTEMPTS = 1
    work.work_request_fail(lease_id=claim("w1").lease_id, message="Shutting down", retry=True)

    assert claim("w2") is None
    assert fresh(requested).status == Status.ERROR
    assert WorkRequest.objects.get().state == "FAILED"


RESULTS = """mutation($input: RecordValidationResultsInput!) {
  recordValidationResults(input: $input) { animals { unknown } } }"""
PROGRESS = """mutation($input: ReportProgressInput!) { reportProgress(input: $input) { version progress { done } } }"""


@pytest.mark.django_db
def test_results_and_progress_under_a_lease_handed_on_are_not_found_and_change_nothing(service, requested):
    old = claim("w1")
    expire(old)
    current = claim("w2")
    before = fresh(requested).version
    writes = [
        (RESULTS, {"submissionId": requested.pk, "results": results(requested), "leaseId": old.lease_id}),
        (
            PROGRESS,
            {"submissionId": requested.pk, "phase": "Validating", "done": 1, "total": 2, "leaseId": old.lease_id},
        ),
    ]

    for query, variables in writes:
        assert error_codes(service.execute(query, {"input": variables})) == ["NOT_FOUND"]
    assert fresh(requested).version == before
    assert not Record.objects.filter(validation_result__isnull=False).exists()
    for query, variables in writes:  # the holder's own lease is taken
        response = service.execute(query, {"input": {**variables, "leaseId": current.lease_id}})
        assert "errors" not in response, response
    assert fresh(requested).version == before + 2


@pytest.mark.django_db
def test_a_lease_of_another_submissions_work_does_not_hold_this_one(service, owner, requested):
    other = requests.validation_request(submission=loaded_submission(owner.user, title="Other"))
    lease_id = claim().lease_id  # the oldest: `requested`'s
    variables = {"submissionId": other.pk, "phase": "Validating", "done": 0, "total": 2, "leaseId": lease_id}

    assert error_codes(service.execute(PROGRESS, {"input": variables})) == ["NOT_FOUND"]


# Exactly one holder, with real threads on the test's database (SQLite or PostgreSQL)


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_hand_each_request_to_exactly_one_worker(owner):
    count, workers = 20, 6
    for n in range(count):
        requests.validation_request(submission=loaded_submission(owner.user, title=f"S{n}", records=1))
    claimed: dict[str, list[int]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(workers)

    def worker(name: str) -> None:
        try:
            start.wait()
            mine = claimed[name] = []
            while (request := claim(name)) is not None:
                mine.append(request.pk)
        except BaseException as error:  # raised in a thread, it would otherwise go unseen
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert [thread.name for thread in threads if thread.is_alive()] == []
    taken = [pk for mine in claimed.values() for pk in mine]
    assert sorted(taken) == sorted(WorkRequest.objects.values_list("pk", flat=True))
    assert len(set(taken)) == len(taken) == count
    assert set(WorkRequest.objects.values_list("attempts", flat=True)) == {1}


# The API: services only, and its errors


@pytest.mark.django_db
def test_owners_may_not_claim_renew_complete_or_fail_work(owner, requested):
    lease_id = claim().lease_id
    calls = [
        (CLAIM, {"worker": "me"}),
        (RENEW, {"leaseId": lease_id}),
        (COMPLETE, {"leaseId": lease_id}),
        (FAIL, {"leaseId": lease_id, "message": "no"}),
        (ACCESSIONS, {"submissionId": requested.pk, "accessions": []}),
    ]

    for query, variables in calls:
        assert error_codes(owner.execute(query, {"input": variables})) == ["FORBIDDEN"]
    assert WorkRequest.objects.get().lease_id == lease_id
    assert fresh(requested).status == Status.WAITING


@pytest.mark.django_db
def test_a_service_claims_and_completes_over_the_api(service, requested):
    claimed = service.execute(CLAIM, {"input": {"worker": "validator-1", "leaseSeconds": 30}})["data"]
    request = claimed["claimWorkRequest"]
    assert (request["kind"], request["submissionId"], request["state"], request["worker"]) == (
        "VALIDATION",
        str(requested.pk),
        "CLAIMED",
        "validator-1",
    )
    services.validation_results_record(submission=requested, results=results(requested))

    done = service.execute(COMPLETE, {"input": {"leaseId": request["leaseId"]}})

    assert done["data"]["completeWorkRequest"] == {"state": "DONE"}
    assert service.execute(CLAIM, {"input": {"worker": "validator-1"}})["data"]["claimWorkRequest"] is None


@pytest.mark.django_db
def test_a_lease_no_longer_held_is_not_found_and_changes_nothing(service, requested):
    before = fresh(requested).version

    for query, variables in ((RENEW, {"leaseId": "gone"}), (COMPLETE, {"leaseId": "gone"})):
        assert error_codes(service.execute(query, {"input": variables})) == ["NOT_FOUND"]
    assert error_codes(service.execute(FAIL, {"input": {"leaseId": "gone", "message": "x"}})) == ["NOT_FOUND"]
    assert fresh(requested).version == before


@pytest.mark.django_db
def test_a_failure_without_a_message_is_bad_user_input(service, requested):
    lease_id = claim().lease_id

    assert error_codes(service.execute(FAIL, {"input": {"leaseId": lease_id, "message": " "}})) == ["BAD_USER_INPUT"]
    assert WorkRequest.objects.get().state == "CLAIMED"


@pytest.mark.django_db
def test_staff_users_act_as_services(db, requested):
    staff = make_caller("operator")
    staff.user.is_staff = True
    staff.user.save()

    assert staff.execute(CLAIM, {"input": {"worker": "ops"}})["data"]["claimWorkRequest"]["worker"] == "ops"
