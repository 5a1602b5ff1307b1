"""The validation summary: counts per kind and grouped messages, from the records in the database."""

import json

import pytest

from submissions import services
from submissions.models import Record, RecordKind, ValidationMessage, ValidationOutcome, ValidationResult
from submissions.summary import RECORD_NAMES_PER_GROUP, validation_summary

ANIMAL, SAMPLE = RecordKind.ANIMAL.value, RecordKind.SAMPLE.value
PASS, WARNING, ERROR = ValidationOutcome.PASS.value, ValidationOutcome.WARNING.value, ValidationOutcome.ERROR.value

pytestmark = pytest.mark.django_db


def add_record(submission, kind, name, outcome=None, messages=()):
    """A record straight in the database, with a result when `outcome` is given; messages are (text, column)."""
    record = Record.objects.create(submission=submission, kind=kind, name=name)
    if outcome is not None:
        result = ValidationResult.objects.create(record=record, outcome=outcome)
        for text, column in messages:
            ValidationMessage.objects.create(result=result, message=text, offending_column=column or "")
    return record


def counts(*, total=0, validated=0, unknown=0, passed=0, warning=0, error=0, issues=0):
    return {
        "total": total,
        "validated": validated,
        "unknown": unknown,
        "pass": passed,
        "warning": warning,
        "error": error,
        "issues": issues,
    }


def groups_by_key(summary):
    return {
        (group["kind"], group["message"], group["offending_column"]): (group["count"], sorted(group["record_names"]))
        for group in summary["messages"]
    }


def test_a_submission_without_records_has_zero_counts_and_no_messages(submission):
    assert validation_summary(submission_id=submission.pk) == {
        "submission_id": str(submission.pk),
        "animals": counts(),
        "samples": counts(),
        "messages": [],
    }


def test_records_never_validated_are_unknown(submission):
    for name in ("cow-1", "cow-2", "cow-3"):
        add_record(submission, ANIMAL, name)
    add_record(submission, SAMPLE, "blood-1")

    summary = validation_summary(submission_id=submission.pk)

    assert summary["animals"] == counts(total=3, unknown=3)
    assert summary["samples"] == counts(total=1, unknown=1)
    assert summary["messages"] == []


def test_counts_are_kept_per_kind_with_pass_warning_error_and_unknown(submission):
    for name, outcome in [
        ("cow-1", PASS),
        ("cow-2", PASS),
        ("cow-3", WARNING),
        ("cow-4", ERROR),
        ("cow-5", ERROR),
        ("cow-6", ERROR),
        ("cow-7", None),
    ]:
        add_record(submission, ANIMAL, name, outcome)
    for name, outcome in [("blood-1", PASS), ("blood-2", ERROR), ("blood-3", None), ("blood-4", None)]:
        add_record(submission, SAMPLE, name, outcome)

    summary = validation_summary(submission_id=submission.pk)

    assert summary["animals"] == counts(total=7, validated=6, unknown=1, passed=2, warning=1, error=3, issues=3)
    assert summary["samples"] == counts(total=4, validated=2, unknown=2, passed=1, error=1, issues=1)


def test_issues_are_the_records_whose_outcome_is_error_and_warnings_are_not_issues(submission):
    add_record(submission, ANIMAL, "cow-1", WARNING, [("Weight looks high", "weight")])
    add_record(submission, ANIMAL, "cow-2", WARNING)
    add_record(submission, SAMPLE, "blood-1", ERROR, [("Unknown tissue", "tissue")])

    summary = validation_summary(submission_id=submission.pk)

    assert summary["animals"]["issues"] == 0
    assert summary["animals"]["warning"] == 2
    assert summary["samples"]["issues"] == 1


def test_the_records_of_other_submissions_do_not_count(submission, owner):
    other = services.submission_create(owner=owner.user, title="Another herd")
    add_record(other, ANIMAL, "cow-1", ERROR, [("Birth date is in the future", "birth_date")])
    add_record(other, SAMPLE, "blood-1")
    add_record(submission, ANIMAL, "cow-1", PASS)

    summary = validation_summary(submission_id=submission.pk)

    assert summary["animals"] == counts(total=1, validated=1, passed=1)
    assert summary["samples"] == counts()
    assert summary["messages"] == []


def test_messages_are_grouped_by_kind_message_and_offending_column_with_count_and_record_names(submission):
    future = "Birth date is in the future"
    add_record(submission, ANIMAL, "cow-2", ERROR, [(future, "birth_date")])
    add_record(submission, ANIMAL, "cow-1", ERROR, [(future, "birth_date"), ("Breed unknown", None)])
    add_record(submission, ANIMAL, "cow-3", WARNING, [(future, "dob")])
    add_record(submission, ANIMAL, "cow-4", WARNING, [("Breed unknown", None)])
    add_record(submission, ANIMAL, "cow-5", PASS)
    add_record(submission, SAMPLE, "blood-1", ERROR, [(future, "birth_date")])

    summary = validation_summary(submission_id=submission.pk)

    assert groups_by_key(summary) == {
        (ANIMAL, future, "birth_date"): (2, ["cow-1", "cow-2"]),
        (ANIMAL, future, "dob"): (1, ["cow-3"]),
        (ANIMAL, "Breed unknown", None): (2, ["cow-1", "cow-4"]),
        (SAMPLE, future, "birth_date"): (1, ["blood-1"]),
    }
    assert len(summary["messages"]) == 4
    for group in summary["messages"]:
        assert set(group) == {"kind", "message", "offending_column", "count", "record_names"}


def test_a_message_group_counts_every_record_even_past_the_names_it_lists(submission):
    many = RECORD_NAMES_PER_GROUP + 20
    for n in range(many):
        add_record(submission, ANIMAL, f"cow-{n:04}", ERROR, [("Sire not found", "sire")])

    (group,) = validation_summary(submission_id=submission.pk)["messages"]

    assert group["count"] == many
    assert len(group["record_names"]) == RECORD_NAMES_PER_GROUP
    assert set(group["record_names"]) <= {f"cow-{n:04}" for n in range(many)}


def test_a_re_recorded_result_replaces_the_old_one(submission):
    services.records_add(submission=submission, records=[{"kind": ANIMAL, "name": "cow-1"}])
    services.validation_results_record(
        submission=submission,
        results=[
            {
                "kind": ANIMAL,
                "name": "cow-1",
                "outcome": ERROR,
                "messages": [{"message": "Birth date is in the future", "offending_column": "birth_date"}],
            }
        ],
    )
    services.validation_results_record(
        submission=submission,
        results=[{"kind": ANIMAL, "name": "cow-1", "outcome": WARNING, "messages": [{"message": "Weight looks high"}]}],
    )

    summary = validation_summary(submission_id=submission.pk)

    assert summary["animals"] == counts(total=1, validated=1, warning=1)
    assert groups_by_key(summary) == {(ANIMAL, "Weight looks high", None): (1, ["cow-1"])}
    assert ValidationResult.objects.filter(record__submission=submission).count() == 1
    assert ValidationMessage.objects.filter(result__record__submission=submission).count() == 1


def test_the_summary_is_computed_with_a_fixed_number_of_queries_whatever_the_number_of_records(
    submission, django_assert_max_num_queries
):
    for n in range(40):
        add_record(
            submission,
            ANIMAL if n % 2 else SAMPLE,
            f"r-{n}",
            [PASS, WARNING, ERROR, None][n % 4],
            [(f"Problem {n % 3}", "col")] if n % 4 else [],
        )

    with django_assert_max_num_queries(3):
        summary = validation_summary(submission_id=submission.pk)

    assert summary["animals"]["total"] + summary["samples"]["total"] == 40


def test_the_summary_is_a_plain_json_value(submission):
    add_record(submission, ANIMAL, "cow-1", ERROR, [("Birth date is in the future", "birth_date")])
    add_record(submission, SAMPLE, "blood-1", PASS)

    summary = validation_summary(submission_id=submission.pk)

    assert json.loads(json.dumps(summary)) == summary
