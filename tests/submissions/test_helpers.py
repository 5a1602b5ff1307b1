"""Seed-compatible helpers: construct_validation_message and send_message."""

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction

from submissions import services
from submissions.helpers import construct_validation_message, send_message
from submissions.models import RecordKind, Status, Submission
from submissions.summary import validation_summary
from tests.conftest import MARKER, GroupProbe, assert_round_trips

ANIMAL, SAMPLE = RecordKind.ANIMAL.value, RecordKind.SAMPLE.value


def fresh(submission) -> Submission:
    return Submission.objects.get(pk=submission.pk)


def add_validated_records(submission):
    """Animals: one PASS, one ERROR, one WARNING, one never validated; samples: one WARNING, one never validated."""
    services.records_add(
        submission=submission,
        records=[{"kind": ANIMAL, "name": f"cow-{n}"} for n in (1, 2, 3, 4)]
        + [{"kind": SAMPLE, "name": f"blood-{n}"} for n in (1, 2)],
    )
    services.validation_results_record(
        submission=submission,
        results=[
            {"kind": ANIMAL, "name": "cow-1", "outcome": "PASS"},
            {
                "kind": ANIMAL,
                "name": "cow-2",
                "outcome": "ERROR",
                "messages": [{"message": "Birth date is in the future", "offending_column": "birth_date"}],
            },
            {"kind": ANIMAL, "name": "cow-3", "outcome": "WARNING"},
            {"kind": SAMPLE, "name": "blood-1", "outcome": "WARNING"},
        ],
    )


@pytest.fixture
def no_sleeping(monkeypatch):
    """send_message must return at once: any sleep fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("send_message slept")

    monkeypatch.setattr(time, "sleep", refuse)
    monkeypatch.setattr(asyncio, "sleep", refuse)


# construct_validation_message


@pytest.mark.django_db
def test_construct_validation_message_is_none_for_a_submission_without_records(submission):
    assert construct_validation_message(submission) is None


@pytest.mark.django_db
def test_construct_validation_message_counts_records_unknowns_and_issues_per_kind(submission):
    add_validated_records(submission)

    assert construct_validation_message(submission) == {
        "animals": 4,
        "samples": 2,
        "animal_unkn": 1,
        "sample_unkn": 1,
        "animal_issues": 1,
        "sample_issues": 0,
    }


@pytest.mark.django_db
def test_construct_validation_message_counts_a_submission_with_only_samples(submission):
    services.records_add(submission=submission, records=[{"kind": SAMPLE, "name": "blood-1"}])

    assert construct_validation_message(submission) == {
        "animals": 0,
        "samples": 1,
        "animal_unkn": 0,
        "sample_unkn": 1,
        "animal_issues": 0,
        "sample_issues": 0,
    }


# send_message


@pytest.mark.django_db(transaction=True)
async def test_send_message_publishes_the_current_status_and_message(submission, no_sleeping):
    await sync_to_async(services.set_status)(submission, Status.LOADED, "Import finished")
    current = await sync_to_async(fresh)(submission)
    listener = await GroupProbe.join(submission.pk)

    returned = await sync_to_async(send_message)(current)
    event = await listener.next()

    assert event == returned
    assert (event["status"], event["message"], event["version"]) == ("LOADED", "Import finished", 3)
    assert event["validation_summary"] is None
    assert_round_trips(event)
    stored = await sync_to_async(fresh)(submission)
    assert (stored.status, stored.message, stored.version) == (Status.LOADED, "Import finished", 3)
    await listener.assert_nothing_published()


@pytest.mark.django_db(transaction=True)
async def test_send_message_publishes_what_seed_style_code_saved_before_calling_it(submission, no_sleeping):
    # The original design: set the fields, save, then send_message(submission).
    submission.status = Status.ERROR
    submission.message = "Archive unreachable"
    await sync_to_async(submission.save)()
    listener = await GroupProbe.join(submission.pk)

    await sync_to_async(send_message)(submission)
    event = await listener.next()

    assert (event["status"], event["message"]) == ("ERROR", "Archive unreachable")


@pytest.mark.django_db(transaction=True)
async def test_send_message_with_a_validation_message_carries_the_summary(submission, no_sleeping):
    await sync_to_async(add_validated_records)(submission)
    current = await sync_to_async(fresh)(submission)
    validation_message = await sync_to_async(construct_validation_message)(current)
    listener = await GroupProbe.join(submission.pk)

    await sync_to_async(send_message)(current, validation_message)
    event = await listener.next()

    expected = await sync_to_async(validation_summary)(submission_id=submission.pk)
    assert event["validation_summary"] == expected
    animal_counts = event["validation_summary"]["animals"]
    assert (animal_counts["issues"], animal_counts["unknown"]) == (1, 1)
    assert_round_trips(event)


@pytest.mark.django_db(transaction=True)
async def test_send_message_returns_at_once_and_its_event_goes_out_on_commit(submission, no_sleeping):
    listener = await GroupProbe.join(submission.pk)

    def send_inside_a_transaction():
        with transaction.atomic():
            returned = send_message(submission)
            # Returned before anything was delivered: the event waits for the commit.
            listener.send_marker_from_sync()
            return returned

    returned = await sync_to_async(send_inside_a_transaction)()

    assert returned["status"] == "WAITING"
    assert await listener.next() == MARKER
    assert await listener.next() == returned


@pytest.mark.django_db(transaction=True)
async def test_send_message_from_a_stale_object_does_not_revert_a_newer_stored_status(submission, no_sleeping):
    # A worker still holds the object it loaded while WAITING; meanwhile the status moved on.
    stale = await sync_to_async(fresh)(submission)
    await sync_to_async(services.set_status)(submission, Status.LOADED, "Import finished")
    listener = await GroupProbe.join(submission.pk)

    await sync_to_async(send_message)(stale)
    event = await listener.next()

    stored = await sync_to_async(fresh)(submission)
    assert (stored.status, stored.message) == (Status.LOADED, "Import finished")
    assert (event["status"], event["message"]) == ("LOADED", "Import finished")


@pytest.mark.django_db(transaction=True)
async def test_a_stale_object_saved_seed_style_never_rewinds_the_version(submission, no_sleeping):
    stale = await sync_to_async(fresh)(submission)
    await sync_to_async(services.set_status)(submission, Status.LOADED, "Import finished")
    await sync_to_async(services.set_status)(submission, Status.LOADED, "Validating")
    listener = await GroupProbe.join(submission.pk)

    stale.message = "Worker note"
    await sync_to_async(stale.save)()
    await sync_to_async(send_message)(stale)

    event = await listener.next()
    assert event["version"] == 4, "versions go on growing after a stale save"
    assert (await sync_to_async(fresh)(submission)).version == 4
