"""The service layer: the only code that changes submissions and publishes their events."""

import asyncio
from datetime import datetime

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, transaction

from submissions import events, services
from submissions.exceptions import BadUserInput, Forbidden, InvalidTransition, NotFound
from submissions.models import Record, RecordKind, Status, Submission, ValidationResult
from submissions.summary import validation_summary
from tests.conftest import MARKER, GroupProbe, assert_round_trips, non_plain_values

ANIMAL, SAMPLE = RecordKind.ANIMAL.value, RecordKind.SAMPLE.value


def fresh(submission) -> Submission:
    return Submission.objects.get(pk=submission.pk)


def record_keys(submission) -> list[tuple[str, str]]:
    return sorted(Record.objects.filter(submission=submission).values_list("kind", "name"))


def animals(*names):
    return [{"kind": ANIMAL, "name": name, "attributes": {"breed": "Friesian"}} for name in names]


def result(name, outcome, *messages, kind=ANIMAL):
    return {
        "kind": kind,
        "name": name,
        "outcome": outcome,
        "messages": [{"message": text, "offending_column": column} for text, column in messages],
    }


# set_status: what the database holds


@pytest.mark.django_db
def test_a_new_submission_is_waiting_at_version_one_with_no_message(submission):
    stored = fresh(submission)
    assert (stored.status, stored.version, stored.message) == (Status.WAITING, 1, "")


@pytest.mark.django_db
def test_the_version_grows_by_one_with_every_change(submission):
    versions = [
        services.set_status(submission, Status.LOADED, "Import finished")["version"],
        services.set_status(submission, Status.LOADED, "Import checked")["version"],
        services.set_status(submission, Status.ERROR, "Archive down")["version"],
    ]

    assert versions == [2, 3, 4]
    assert fresh(submission).version == 4


@pytest.mark.django_db
def test_set_status_saves_the_status_and_message(submission):
    services.set_status(submission, Status.LOADED, "Import finished")

    stored = fresh(submission)
    assert (stored.status, stored.message) == (Status.LOADED, "Import finished")


@pytest.mark.django_db
def test_set_status_accepts_the_submission_id_and_a_plain_status_string(submission):
    event = services.set_status(submission.pk, "LOADED", "Import finished")

    assert event["status"] == "LOADED"
    assert fresh(submission).status == Status.LOADED


@pytest.mark.django_db
def test_a_change_to_the_same_status_with_a_new_message_is_a_change(submission):
    services.set_status(submission, Status.WAITING, "Upload started")

    stored = fresh(submission)
    assert (stored.status, stored.message, stored.version) == (Status.WAITING, "Upload started", 2)


@pytest.mark.django_db
def test_an_invalid_transition_raises_invalid_transition_and_changes_nothing(
    submission, django_capture_on_commit_callbacks
):
    services.set_status(submission, Status.LOADED, "Import finished")

    with django_capture_on_commit_callbacks() as callbacks:
        with pytest.raises(InvalidTransition) as raised:
            services.set_status(submission, Status.COMPLETED, "Done")

    assert raised.value.code == "INVALID_TRANSITION"
    assert "Loaded" in raised.value.message and "Completed" in raised.value.message
    stored = fresh(submission)
    assert (stored.status, stored.message, stored.version) == (Status.LOADED, "Import finished", 2)
    assert callbacks == []


@pytest.mark.django_db
def test_force_overrides_the_transition_rules(submission):
    event = services.set_status(submission, Status.COMPLETED, "Operator reset", force=True)

    stored = fresh(submission)
    assert (stored.status, stored.message, stored.version) == (Status.COMPLETED, "Operator reset", 2)
    assert event["status"] == "COMPLETED"


@pytest.mark.django_db
def test_message_none_clears_the_message(submission):
    services.set_status(submission, Status.LOADED, "Import finished")

    event = services.set_status(submission, Status.LOADED, None)

    assert fresh(submission).message == ""
    assert not event["message"]


@pytest.mark.django_db
def test_every_change_schedules_exactly_one_publication_on_commit(submission, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        services.set_status(submission, Status.LOADED)

    assert len(callbacks) == 1


# set_status: what subscribers receive


@pytest.mark.django_db(transaction=True)
async def test_a_committed_change_is_published_with_its_status_message_version_and_actions(submission):
    listener = await GroupProbe.join(submission.pk)

    returned = await sync_to_async(services.set_status)(submission, Status.LOADED, "Import finished")
    event = await listener.next()

    assert event == returned
    assert event["type"] == events.STATUS_CHANGED
    assert event["submission_id"] == str(submission.pk)
    assert (event["version"], event["status"], event["message"]) == (2, "LOADED", "Import finished")
    assert event["actions"] == {"can_edit": False, "can_delete": True, "can_validate": True, "can_submit": False}
    assert event["progress"] is None
    assert datetime.fromisoformat(event["at"]).tzinfo is not None
    await listener.assert_nothing_published()


@pytest.mark.django_db(transaction=True)
async def test_events_arrive_once_each_in_version_order(submission):
    listener = await GroupProbe.join(submission.pk)

    for status in (Status.LOADED, Status.READY, Status.SUBMITTED, Status.COMPLETED):
        await sync_to_async(services.set_status)(submission, status)
    received = [await listener.next() for _ in range(4)]

    assert [(event["version"], event["status"]) for event in received] == [
        (2, "LOADED"),
        (3, "READY"),
        (4, "SUBMITTED"),
        (5, "COMPLETED"),
    ]
    await listener.assert_nothing_published()


@pytest.mark.django_db(transaction=True)
async def test_a_change_is_published_only_after_its_transaction_commits(submission):
    listener = await GroupProbe.join(submission.pk)

    def change_then_mark_before_commit():
        with transaction.atomic():
            services.set_status(submission, Status.LOADED, "Import finished")
            # Still inside the transaction: anything published so far would queue before this marker.
            listener.send_marker_from_sync()

    await sync_to_async(change_then_mark_before_commit)()

    assert await listener.next() == MARKER
    event = await listener.next()
    assert (event["status"], event["version"]) == ("LOADED", 2)


@pytest.mark.django_db(transaction=True)
async def test_a_change_in_a_transaction_that_rolls_back_is_never_published(submission):
    listener = await GroupProbe.join(submission.pk)

    class RolledBack(Exception):
        pass

    def change_then_roll_back():
        with transaction.atomic():
            services.set_status(submission, Status.LOADED, "Import finished")
            raise RolledBack

    with pytest.raises(RolledBack):
        await sync_to_async(change_then_roll_back)()

    await listener.assert_nothing_published()
    stored = await sync_to_async(fresh)(submission)
    assert (stored.status, stored.message, stored.version) == (Status.WAITING, "", 1)


@pytest.mark.django_db(transaction=True)
async def test_an_invalid_transition_publishes_nothing(submission):
    listener = await GroupProbe.join(submission.pk)

    with pytest.raises(InvalidTransition):
        await sync_to_async(services.set_status)(submission, Status.COMPLETED)

    await listener.assert_nothing_published()


@pytest.mark.django_db(transaction=True)
async def test_a_forced_change_is_published_like_any_other(submission):
    listener = await GroupProbe.join(submission.pk)

    await sync_to_async(services.set_status)(submission, Status.COMPLETED, "Operator reset", force=True)

    event = await listener.next()
    assert (event["status"], event["message"], event["version"]) == ("COMPLETED", "Operator reset", 2)


@pytest.mark.django_db(transaction=True)
async def test_an_event_carries_the_validation_summary_only_when_asked_to(submission):
    await sync_to_async(services.records_add)(submission=submission, records=animals("cow-1", "cow-2"))
    listener = await GroupProbe.join(submission.pk)

    await sync_to_async(services.set_status)(submission, Status.LOADED, "Import finished")
    await sync_to_async(services.set_status)(submission, Status.LOADED, "Checked", include_validation=True)
    without_summary, with_summary = await listener.next(), await listener.next()

    assert without_summary["validation_summary"] is None
    expected = await sync_to_async(validation_summary)(submission_id=submission.pk)
    assert with_summary["validation_summary"] == expected
    assert with_summary["validation_summary"]["animals"]["total"] == 2


@pytest.mark.django_db(transaction=True)
async def test_a_status_event_round_trips_through_json_unchanged(submission):
    await sync_to_async(services.records_add)(submission=submission, records=animals("cow-1"))
    await sync_to_async(services.validation_results_record)(
        submission=submission, results=[result("cow-1", "ERROR", ("Birth date is in the future", "birth_date"))]
    )
    listener = await GroupProbe.join(submission.pk)

    await sync_to_async(services.set_status)(submission, Status.LOADED, "Import finished", include_validation=True)
    event = await listener.next()

    assert event["validation_summary"]["messages"]
    assert_round_trips(event)


# records_add


@pytest.mark.django_db(transaction=True)
async def test_records_add_adds_every_record_and_publishes_the_new_summary(submission):
    listener = await GroupProbe.join(submission.pk)

    added = await sync_to_async(services.records_add)(
        submission=submission,
        records=animals("cow-1", "cow-2") + [{"kind": SAMPLE, "name": "blood-1", "attributes": {"tissue": "blood"}}],
    )
    event = await listener.next()

    assert added == 3
    stored = await sync_to_async(record_keys)(submission)
    assert stored == [(ANIMAL, "cow-1"), (ANIMAL, "cow-2"), (SAMPLE, "blood-1")]
    assert event["version"] == 2
    assert event["validation_summary"]["animals"]["total"] == 2
    assert event["validation_summary"]["samples"]["total"] == 1
    assert_round_trips(event)


@pytest.mark.django_db
def test_records_add_stores_the_attributes(submission):
    attributes = {"breed": "Angus", "weight_kg": 410}

    services.records_add(submission=submission, records=[{"kind": ANIMAL, "name": "cow-1", "attributes": attributes}])

    assert Record.objects.get(submission=submission, name="cow-1").attributes == attributes


@pytest.mark.django_db
def test_an_animal_and_a_sample_may_share_a_name(submission):
    added = services.records_add(
        submission=submission, records=[{"kind": ANIMAL, "name": "X-1"}, {"kind": SAMPLE, "name": "X-1"}]
    )

    assert added == 2
    assert Record.objects.filter(submission=submission, name="X-1").count() == 2


@pytest.mark.django_db(transaction=True)
async def test_a_batch_with_a_duplicate_name_adds_none_and_publishes_nothing(submission):
    listener = await GroupProbe.join(submission.pk)

    with pytest.raises(BadUserInput) as raised:
        await sync_to_async(services.records_add)(submission=submission, records=animals("cow-1", "cow-2", "cow-1"))

    assert raised.value.code == "BAD_USER_INPUT"
    assert "cow-1" in raised.value.message
    assert await sync_to_async(Record.objects.filter(submission=submission).count)() == 0
    assert (await sync_to_async(fresh)(submission)).version == 1
    await listener.assert_nothing_published()


@pytest.mark.django_db(transaction=True)
async def test_a_batch_naming_an_existing_record_adds_none_and_publishes_nothing(submission):
    await sync_to_async(services.records_add)(submission=submission, records=animals("cow-1"))
    listener = await GroupProbe.join(submission.pk)

    with pytest.raises(BadUserInput) as raised:
        await sync_to_async(services.records_add)(submission=submission, records=animals("cow-2", "cow-1", "cow-3"))

    assert "cow-1" in raised.value.message
    assert await sync_to_async(record_keys)(submission) == [(ANIMAL, "cow-1")]
    assert (await sync_to_async(fresh)(submission)).version == 2
    await listener.assert_nothing_published()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "bad_record",
    [
        {"kind": ANIMAL, "name": ""},
        {"kind": ANIMAL, "name": "   "},
        {"kind": ANIMAL, "name": "x" * 256},
        {"kind": ANIMAL, "name": "cow-9", "attributes": ["not", "an", "object"]},
    ],
    ids=["empty-name", "blank-name", "name-too-long", "attributes-not-an-object"],
)
def test_a_batch_with_one_bad_record_adds_none(submission, bad_record):
    with pytest.raises(BadUserInput):
        services.records_add(submission=submission, records=animals("cow-1", "cow-2") + [bad_record])

    assert Record.objects.filter(submission=submission).count() == 0
    assert fresh(submission).version == 1


# validation_results_record


@pytest.mark.django_db
def test_recording_results_without_complete_leaves_the_status_and_returns_the_summary(submission):
    services.records_add(submission=submission, records=animals("cow-1", "cow-2"))
    services.set_status(submission, Status.LOADED)

    summary = services.validation_results_record(submission=submission, results=[result("cow-1", "PASS")])

    assert fresh(submission).status == Status.LOADED
    assert summary == validation_summary(submission_id=submission.pk)
    assert (summary["animals"]["validated"], summary["animals"]["unknown"]) == (1, 1)


@pytest.mark.django_db(transaction=True)
async def test_complete_results_with_no_issues_and_none_unknown_make_the_submission_ready(submission):
    await sync_to_async(services.records_add)(
        submission=submission, records=animals("cow-1", "cow-2") + [{"kind": SAMPLE, "name": "blood-1"}]
    )
    await sync_to_async(services.set_status)(submission, Status.LOADED, "Import finished")
    listener = await GroupProbe.join(submission.pk)

    summary = await sync_to_async(services.validation_results_record)(
        submission=submission,
        results=[
            result("cow-1", "PASS"),
            result("cow-2", "WARNING", ("Weight looks high", "weight")),
            result("blood-1", "PASS", kind=SAMPLE),
        ],
        complete=True,
    )
    event = await listener.next()

    assert (await sync_to_async(fresh)(submission)).status == Status.READY
    assert (event["status"], event["version"]) == ("READY", 4)
    assert event["actions"]["can_submit"] is True
    assert event["validation_summary"] == summary
    assert summary["animals"]["warning"] == 1
    assert_round_trips(event)
    await listener.assert_nothing_published()


@pytest.mark.django_db
def test_complete_results_with_an_issue_make_the_submission_need_revision(submission):
    services.records_add(submission=submission, records=animals("cow-1", "cow-2"))
    services.set_status(submission, Status.LOADED)

    services.validation_results_record(
        submission=submission,
        results=[result("cow-1", "PASS"), result("cow-2", "ERROR", ("Birth date is in the future", "birth_date"))],
        complete=True,
    )

    assert fresh(submission).status == Status.NEED_REVISION


@pytest.mark.django_db
def test_complete_results_with_a_record_still_unknown_make_the_submission_need_revision(submission):
    services.records_add(submission=submission, records=animals("cow-1") + [{"kind": SAMPLE, "name": "blood-1"}])
    services.set_status(submission, Status.LOADED)

    services.validation_results_record(submission=submission, results=[result("cow-1", "PASS")], complete=True)

    assert fresh(submission).status == Status.NEED_REVISION


@pytest.mark.django_db
def test_completing_validation_from_a_status_that_may_not_reach_the_outcome_changes_nothing(submission):
    services.records_add(submission=submission, records=animals("cow-1"))
    services.set_status(submission, Status.ERROR, "Archive down")

    with pytest.raises(InvalidTransition):
        services.validation_results_record(submission=submission, results=[result("cow-1", "PASS")], complete=True)

    stored = fresh(submission)
    assert (stored.status, stored.version) == (Status.ERROR, 3)
    assert not ValidationResult.objects.filter(record__submission=submission).exists()


@pytest.mark.django_db(transaction=True)
async def test_results_naming_an_unknown_record_store_nothing_and_publish_nothing(submission):
    await sync_to_async(services.records_add)(submission=submission, records=animals("cow-1"))
    listener = await GroupProbe.join(submission.pk)

    with pytest.raises(BadUserInput) as raised:
        await sync_to_async(services.validation_results_record)(
            submission=submission, results=[result("cow-1", "PASS"), result("cow-404", "PASS")]
        )

    assert "cow-404" in raised.value.message
    stored = await sync_to_async(ValidationResult.objects.filter(record__submission=submission).count)()
    assert stored == 0
    assert (await sync_to_async(fresh)(submission)).version == 2
    await listener.assert_nothing_published()


@pytest.mark.django_db
def test_results_for_a_sample_do_not_reach_an_animal_of_the_same_name(submission):
    services.records_add(submission=submission, records=animals("X-1"))

    with pytest.raises(BadUserInput):
        services.validation_results_record(submission=submission, results=[result("X-1", "PASS", kind=SAMPLE)])

    assert not ValidationResult.objects.filter(record__submission=submission).exists()


# progress_report


@pytest.mark.django_db(transaction=True)
async def test_a_progress_report_is_published_and_leaves_the_status_unchanged(submission):
    await sync_to_async(services.set_status)(submission, Status.LOADED, "Validating")
    listener = await GroupProbe.join(submission.pk)

    returned = await sync_to_async(services.progress_report)(
        submission=submission, phase="validation", done=40, total=120
    )
    event = await listener.next()

    assert event == returned
    assert event["progress"] == {"phase": "validation", "done": 40, "total": 120}
    assert (event["status"], event["message"], event["version"]) == ("LOADED", "Validating", 3)
    stored = await sync_to_async(fresh)(submission)
    assert (stored.status, stored.message, stored.version) == (Status.LOADED, "Validating", 3)
    assert_round_trips(event)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "phase, done, total",
    [(" ", 1, 2), ("validation", 3, 2), ("validation", -1, 2)],
    ids=["blank-phase", "done-past-total", "negative-done"],
)
async def test_a_bad_progress_report_is_refused_and_publishes_nothing(submission, phase, done, total):
    listener = await GroupProbe.join(submission.pk)

    with pytest.raises(BadUserInput):
        await sync_to_async(services.progress_report)(submission=submission, phase=phase, done=done, total=total)

    assert (await sync_to_async(fresh)(submission)).version == 1
    await listener.assert_nothing_published()


# submission_delete


@pytest.mark.django_db(transaction=True)
async def test_a_submission_is_deleted_when_its_status_allows_and_subscribers_are_told(submission):
    await sync_to_async(services.set_status)(submission, Status.LOADED)
    listener = await GroupProbe.join(submission.pk)

    await sync_to_async(services.submission_delete)(submission=submission)
    event = await listener.next()

    assert not await sync_to_async(Submission.objects.filter(pk=submission.pk).exists)()
    assert event == {"type": events.DELETED, "submission_id": str(submission.pk), "version": 3}
    assert_round_trips(event)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("status", [Status.WAITING, Status.SUBMITTED])
async def test_a_submission_is_not_deleted_while_waiting_or_submitted(submission, status):
    await sync_to_async(services.set_status)(submission, status, force=True)
    listener = await GroupProbe.join(submission.pk)

    with pytest.raises(Forbidden) as raised:
        await sync_to_async(services.submission_delete)(submission=submission)

    assert raised.value.code == "FORBIDDEN"
    assert await sync_to_async(Submission.objects.filter(pk=submission.pk).exists)()
    await listener.assert_nothing_published()


@pytest.mark.django_db
@pytest.mark.parametrize("status", [s for s in Status if s not in {Status.WAITING, Status.SUBMITTED}])
def test_a_submission_may_be_deleted_in_any_other_status(submission, status):
    services.records_add(submission=submission, records=animals("cow-1"))
    services.set_status(submission, status, force=True)

    services.submission_delete(submission=submission)

    assert not Submission.objects.filter(pk=submission.pk).exists()
    assert not Record.objects.filter(name="cow-1").exists()


# Every event is a plain JSON value


def _prepare_loaded_with_a_record(submission):
    services.records_add(submission=submission, records=animals("cow-1"))
    services.set_status(submission, Status.LOADED, "Import finished")


def _set_status(submission):
    services.set_status(submission, Status.LOADED, "Import finished", include_validation=True)


def _set_status_forced(submission):
    services.set_status(submission, Status.COMPLETED, "Operator reset", force=True)


def _records_add(submission):
    services.records_add(submission=submission, records=animals("cow-2"))


def _validation_results_record_complete(submission):
    services.validation_results_record(
        submission=submission,
        results=[result("cow-1", "ERROR", ("Birth date is in the future", "birth_date"))],
        complete=True,
    )


def _progress_report(submission):
    services.progress_report(submission=submission, phase="validation", done=1, total=2)


def _submission_delete(submission):
    services.submission_delete(submission=submission)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "change",
    [
        _set_status,
        _set_status_forced,
        _records_add,
        _validation_results_record_complete,
        _progress_report,
        _submission_delete,
    ],
    ids=lambda change: change.__name__.strip("_"),
)
async def test_every_published_event_holds_only_plain_json_values(submission, change):
    await sync_to_async(_prepare_loaded_with_a_record)(submission)
    listener = await GroupProbe.join(submission.pk)

    await sync_to_async(change)(submission)
    event = await listener.next()

    assert_round_trips(event)
    assert non_plain_values(event) == []


# Events are scoped to their submission


@pytest.mark.django_db(transaction=True)
async def test_a_change_reaches_only_the_group_of_its_own_submission(submission, owner):
    other = await sync_to_async(services.submission_create)(owner=owner.user, title="Another herd")
    listener = await GroupProbe.join(other.pk)

    await sync_to_async(services.set_status)(submission, Status.LOADED)

    await listener.assert_nothing_published()


@pytest.mark.django_db
def test_an_unknown_status_is_bad_user_input(submission):
    with pytest.raises(BadUserInput):
        services.set_status(submission, "BOGUS")
    assert fresh(submission).version == 1


# Input that cannot be stored, and submissions deleted mid-change


def deleted_meanwhile(submission) -> Submission:
    """The submission as a caller read it, whose row a concurrent delete has since removed."""
    stale = fresh(submission)
    Submission.objects.filter(pk=submission.pk).delete()
    return stale


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [
        lambda s: services.records_add(submission=s, records=animals("cow-1")),
        lambda s: services.set_status(s, Status.LOADED),
        lambda s: services.validation_results_record(submission=s, results=[result("cow-1", "PASS")]),
        lambda s: services.progress_report(submission=s, phase="import", done=1, total=2),
        lambda s: services.submission_republish(submission=s),
        lambda s: services.submission_delete(submission=s),
    ],
    ids=["records_add", "set_status", "validation_results_record", "progress_report", "republish", "delete"],
)
def test_a_change_to_a_submission_deleted_since_it_was_read_is_not_found_and_publishes_nothing(
    submission, change, django_capture_on_commit_callbacks
):
    stale = deleted_meanwhile(submission)

    with django_capture_on_commit_callbacks() as published, pytest.raises(NotFound):
        change(stale)

    assert published == []
    assert not Record.objects.exists()
    assert not Submission.objects.exists()


NUL = "\u0000"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [
        lambda s: services.submission_create(owner=s.owner, title=f"Herd{NUL}"),
        lambda s: services.submission_create(owner=s.owner, title="Herd", description=NUL),
        lambda s: services.set_status(s, Status.LOADED, f"Loaded{NUL}"),
        lambda s: services.records_add(submission=s, records=animals("cow-1", f"cow{NUL}")),
        lambda s: services.records_add(submission=s, records=[{"kind": ANIMAL, "name": "c", "attributes": {"b": NUL}}]),
        lambda s: services.records_add(submission=s, records=[{"kind": ANIMAL, "name": "c", "attributes": {NUL: 1}}]),
        lambda s: services.records_add(
            submission=s, records=[{"kind": ANIMAL, "name": "c", "attributes": {"b": [{"c": [NUL]}]}}]
        ),
        lambda s: services.validation_results_record(submission=s, results=[result("old", "ERROR", (NUL, None))]),
        lambda s: services.validation_results_record(submission=s, results=[result("old", "ERROR", ("Bad", NUL))]),
        lambda s: services.validation_results_record(submission=s, results=[result(f"old{NUL}", "PASS")]),
        lambda s: services.progress_report(submission=s, phase=f"import{NUL}", done=1, total=2),
    ],
    ids=[
        "title",
        "description",
        "status-message",
        "record-name",
        "attribute-value",
        "attribute-key",
        "nested-attribute",
        "validation-message",
        "offending-column",
        "result-name",
        "phase",
    ],
)
def test_a_nul_character_in_any_text_is_bad_user_input_and_changes_nothing(
    submission, change, django_capture_on_commit_callbacks
):
    # PostgreSQL cannot store NUL and SQLite can: both must refuse it alike.
    services.records_add(submission=submission, records=animals("old"))
    before = fresh(submission)

    with django_capture_on_commit_callbacks() as published, pytest.raises(BadUserInput, match="NUL"):
        change(submission)

    assert published == []
    after = fresh(submission)
    assert (after.status, after.message, after.version) == (before.status, before.message, before.version)
    assert record_keys(submission) == [(ANIMAL, "old")]
    assert Submission.objects.count() == 1
    assert not ValidationResult.objects.exists()


def nested(depth: int) -> dict:
    """An object `depth` levels deep, the outermost counting as 1."""
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.mark.django_db
@pytest.mark.parametrize(
    "attributes",
    [
        {"weight": float("nan")},
        {"weight": float("inf")},
        {"weight": [float("-inf")]},
        nested(services.MAX_ATTRIBUTES_DEPTH + 1),
        {"when": datetime(2024, 1, 1)},
    ],
    ids=["nan", "infinity", "nested-infinity", "too-deep", "not-json"],
)
def test_attributes_that_are_not_storable_json_are_bad_user_input_and_add_nothing(submission, attributes):
    with pytest.raises(BadUserInput):
        services.records_add(
            submission=submission, records=animals("cow-1") + [{"kind": ANIMAL, "name": "c", "attributes": attributes}]
        )

    assert not Record.objects.exists()
    assert fresh(submission).version == 1


@pytest.mark.django_db
def test_attributes_as_deep_as_the_limit_are_stored(submission):
    attributes = nested(services.MAX_ATTRIBUTES_DEPTH)
    services.records_add(submission=submission, records=[{"kind": ANIMAL, "name": "c", "attributes": attributes}])
    assert Record.objects.get().attributes == attributes


# Concurrent writers: several threads changing one submission at once

WRITERS = 6
CHANGES_PER_WRITER = 15


def _writer(submission_id: int, writer: int, *, roll_back_every: int = 0) -> list[dict]:
    """One writer's changes, each in its own transaction (some rolled back); the events of those committed."""

    class RolledBack(Exception):
        pass

    committed = []
    try:
        for n in range(CHANGES_PER_WRITER):
            message = f"writer {writer} change {n}"
            if roll_back_every and n % roll_back_every == 0:
                with pytest.raises(RolledBack), transaction.atomic():
                    services.progress_report(submission=submission_id, phase=message, done=n, total=CHANGES_PER_WRITER)
                    raise RolledBack
            else:
                committed.append(services.set_status(submission_id, Status.LOADED, message))
    finally:
        connection.close()  # this thread's own
    return committed


async def _write_concurrently(submission, **options) -> list[dict]:
    # Threads of the loop's executor (not the one thread-sensitive thread), as the service threads of a server.
    batches = await asyncio.gather(
        *(sync_to_async(_writer, thread_sensitive=False)(submission.pk, n, **options) for n in range(WRITERS))
    )
    return [event for batch in batches for event in batch]


@pytest.mark.django_db(transaction=True)
async def test_concurrent_writers_get_strictly_increasing_versions_and_no_change_is_lost(submission):
    listener = await GroupProbe.join(submission.pk)

    returned = await _write_concurrently(submission)

    total = WRITERS * CHANGES_PER_WRITER
    assert sorted(event["version"] for event in returned) == list(range(2, total + 2))
    published = [await listener.next() for _ in range(total)]
    # Published after commit, once each, in version order, with what each change stored.
    assert [event["version"] for event in published] == list(range(2, total + 2))
    assert {event["message"] for event in published} == {event["message"] for event in returned}
    assert len({event["message"] for event in published}) == total
    await listener.assert_nothing_published()
    stored = await sync_to_async(fresh)(submission)
    assert stored.version == total + 1


@pytest.mark.django_db(transaction=True)
async def test_concurrent_writers_publish_nothing_for_their_rolled_back_changes(submission):
    listener = await GroupProbe.join(submission.pk)

    returned = await _write_concurrently(submission, roll_back_every=3)

    committed = len(returned)
    assert committed == WRITERS * (CHANGES_PER_WRITER - len(range(0, CHANGES_PER_WRITER, 3)))
    published = [await listener.next() for _ in range(committed)]
    # Versions stay contiguous: a rolled-back change used no version, and none was published (no progress event).
    assert [event["version"] for event in published] == list(range(2, committed + 2))
    assert all(event["progress"] is None and event["status"] == "LOADED" for event in published)
    await listener.assert_nothing_published()
    assert (await sync_to_async(fresh)(submission)).version == committed + 1
