"""Seed-compatible helpers: code written for the original send-message design moves over unchanged."""

from submissions import services
from submissions.models import Submission
from submissions.summary import validation_summary


def construct_validation_message(submission: Submission) -> dict | None:
    """The original summary shape, or None when the submission has no records."""
    summary = validation_summary(submission_id=submission.pk)
    animals, samples = summary["animals"], summary["samples"]
    if animals["total"] + samples["total"] == 0:
        return None
    return {
        "animals": animals["total"],
        "samples": samples["total"],
        "animal_unkn": animals["unknown"],
        "sample_unkn": samples["unknown"],
        "animal_issues": animals["issues"],
        "sample_issues": samples["issues"],
    }


def send_message(submission: Submission, validation_message: dict | None = None) -> dict:
    """Publish the submission's current status and message (and, if given, its summary).

    Returns at once with the event; it reaches subscribers when the current
    transaction commits (at once outside a transaction). What is published is
    what the database holds, so a stale object cannot revert a newer status.
    """
    return services.submission_republish(submission=submission, include_validation=validation_message is not None)
