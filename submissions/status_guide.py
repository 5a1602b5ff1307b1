"""What each status means to the person who owns a submission, and why an action is unavailable.

The pages show this text (the details page picks it up again on every live
change), so it is written for a submitter, not for a service.
"""

from submissions.models import Status

# status -> (what it means, what to do next)
MEANINGS = {
    Status.WAITING: (
        "Work on this submission is in progress (an upload, a validation or a submission).",
        "Nothing to do now: this page updates by itself when the work is done.",
    ),
    Status.LOADED: (
        "The records are imported and have not been validated yet.",
        "Validate them to find any records that need fixing.",
    ),
    Status.SUBMITTED: (
        "The records are being sent to the archive.",
        "Nothing to do now: wait for Completed.",
    ),
    Status.ERROR: (
        "Something went wrong; the message says what.",
        "Read the message. Ask an operator to reset the submission, or delete it and start again.",
    ),
    Status.NEED_REVISION: (
        "Validation found records with issues.",
        "Use Edit to fix the records listed under Validation, then validate again.",
    ),
    Status.READY: (
        "Every record passed validation.",
        "Submit it to the archive.",
    ),
    Status.COMPLETED: (
        "The archive accepted the submission.",
        "Nothing more to do.",
    ),
}

_IN_PROGRESS = "Wait: work on this submission is in progress."
_SUBMITTING = "Not while it is being sent to the archive."
_ARCHIVED = "The archive has accepted it already."
_AFTER_ERROR = "Not after an error: an operator must reset it first."

# action -> status -> why the action is unavailable in that status. An action
# that the status allows but that is still unavailable (Edit with no records)
# uses its "otherwise" reason.
UNAVAILABLE_BECAUSE = {
    "canEdit": {
        Status.WAITING: _IN_PROGRESS,
        Status.SUBMITTED: _SUBMITTING,
        "otherwise": "There are no records to edit yet.",
    },
    "canValidate": {
        Status.WAITING: _IN_PROGRESS,
        Status.SUBMITTED: _SUBMITTING,
        Status.ERROR: _AFTER_ERROR,
        Status.COMPLETED: _ARCHIVED,
        Status.READY: "Every record has passed validation already.",
    },
    "canSubmit": {
        Status.WAITING: _IN_PROGRESS,
        Status.LOADED: "Only a Ready submission can be submitted: validate it first.",
        Status.NEED_REVISION: "Only a Ready submission can be submitted: fix the issues and validate again.",
        Status.SUBMITTED: "It has been submitted already.",
        Status.ERROR: _AFTER_ERROR,
        Status.COMPLETED: _ARCHIVED,
    },
    "canDelete": {
        Status.WAITING: _IN_PROGRESS,
        Status.SUBMITTED: _SUBMITTING,
    },
}


def status_guide() -> dict:
    """Plain JSON for the pages: each status's display name, meaning and next step, and each action's reasons."""
    return {
        "statuses": {
            status.value: {"display": status.label, "meaning": meaning, "next": next_step}
            for status, (meaning, next_step) in MEANINGS.items()
        },
        "unavailable": {
            action: {str(status): reason for status, reason in reasons.items()}
            for action, reasons in UNAVAILABLE_BECAUSE.items()
        },
    }
