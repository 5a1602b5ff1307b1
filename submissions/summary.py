"""The validation summary of a submission, computed from its records with aggregate queries.

The summary is a plain JSON value: the publisher computes it once and the
channel layer carries it to every subscriber as it is.
"""

from django.db.models import Count, Q

from submissions.models import Record, RecordKind, ValidationMessage, ValidationOutcome

# Record names listed per message group; `count` always holds the full number.
RECORD_NAMES_PER_GROUP = 100

_KIND_KEYS = {RecordKind.ANIMAL: "animals", RecordKind.SAMPLE: "samples"}


def _empty_counts() -> dict[str, int]:
    return {"total": 0, "validated": 0, "unknown": 0, "pass": 0, "warning": 0, "error": 0, "issues": 0}


def _counts_by_kind(submission_id: int) -> dict[str, dict[str, int]]:
    outcome = "validation_result__outcome"
    rows = (
        Record.objects.filter(submission_id=submission_id)
        .values("kind")
        .annotate(
            total=Count("id"),
            validated=Count("validation_result"),
            passed=Count("id", filter=Q(**{outcome: ValidationOutcome.PASS})),
            warning=Count("id", filter=Q(**{outcome: ValidationOutcome.WARNING})),
            error=Count("id", filter=Q(**{outcome: ValidationOutcome.ERROR})),
        )
        .order_by()
    )
    counts = {key: _empty_counts() for key in _KIND_KEYS.values()}
    for row in rows:
        counts[_KIND_KEYS[row["kind"]]] = {
            "total": row["total"],
            "validated": row["validated"],
            "unknown": row["total"] - row["validated"],
            "pass": row["passed"],
            "warning": row["warning"],
            "error": row["error"],
            # A record has issues when its outcome is ERROR.
            "issues": row["error"],
        }
    return counts


def _message_groups(submission_id: int) -> list[dict]:
    messages = ValidationMessage.objects.filter(result__record__submission_id=submission_id)
    key_fields = ("result__record__kind", "message", "offending_column")
    groups = list(
        messages.values(*key_fields)
        .annotate(count=Count("result__record", distinct=True))
        .order_by("-count", *key_fields)
    )
    by_key = {}
    for group in groups:
        by_key[tuple(group[field] for field in key_fields)] = {
            "kind": group["result__record__kind"],
            "message": group["message"],
            "offending_column": group["offending_column"] or None,
            "count": group["count"],
            "record_names": [],
        }
    for *key, name in (
        messages.values_list(*key_fields, "result__record__name")
        .order_by(*key_fields, "result__record__name")
        .distinct()
    ):
        names = by_key[tuple(key)]["record_names"]
        if len(names) < RECORD_NAMES_PER_GROUP:
            names.append(name)
    return list(by_key.values())


def validation_summary(*, submission_id: int) -> dict:
    """Counts per kind and grouped messages of a submission, as a JSON value."""
    return {
        "submission_id": str(submission_id),
        **_counts_by_kind(submission_id),
        "messages": _message_groups(submission_id),
    }
