"""The status rules, as pure functions: which transitions and actions a status allows."""

from submissions.models import Status

# Target status -> the statuses it may be reached from; absent targets are
# reachable from anywhere.
_ALLOWED_SOURCES = {
    Status.COMPLETED: {Status.SUBMITTED},
    Status.SUBMITTED: {Status.READY, Status.WAITING},
    Status.READY: {Status.WAITING, Status.LOADED},
    Status.NEED_REVISION: {Status.WAITING, Status.LOADED},
}


def allowed_sources(target: str) -> frozenset[Status] | None:
    """The statuses `target` may be reached from, besides itself; None when any status may."""
    sources = _ALLOWED_SOURCES.get(Status(target))
    return None if sources is None else frozenset(sources)


def transition_allowed(*, current: str, target: str) -> bool:
    """Whether a submission in `current` may move to `target` (a same-status change always may)."""
    if current == target:
        return True
    sources = allowed_sources(target)
    return sources is None or Status(current) in sources


def can_delete(status: str) -> bool:
    return Status(status) not in {Status.WAITING, Status.SUBMITTED}


def actions_for(*, status: str, has_records: bool) -> dict[str, bool]:
    """The actions a front end may offer for a submission in `status`."""
    status = Status(status)
    return {
        "can_edit": has_records and status not in {Status.WAITING, Status.SUBMITTED},
        "can_delete": can_delete(status),
        "can_validate": status
        not in {
            Status.ERROR,
            Status.WAITING,
            Status.SUBMITTED,
            Status.COMPLETED,
            Status.READY,
        },
        "can_submit": status == Status.READY,
    }
