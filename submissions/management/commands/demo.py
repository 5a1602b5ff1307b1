from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from submissions import services
from submissions.models import RecordKind, Status, Submission, ValidationOutcome

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"


def _records(prefix: str, kind: str, count: int) -> list[dict]:
    return [
        {"kind": kind, "name": f"{prefix}-{n:03}", "attributes": {"breed": "Friesian"}} for n in range(1, count + 1)
    ]


class Command(BaseCommand):
    help = "Create (idempotently) the user demo/demo and a few submissions in different states."

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        user, created = User.objects.get_or_create(username=DEMO_USERNAME)
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        if Submission.objects.filter(owner=user).exists():
            self.stdout.write("Demo data already present.")
            return

        services.submission_create(owner=user, title="Cattle herd 2026", description="Waiting for upload.")

        loaded = services.submission_create(owner=user, title="Sheep flock", description="Imported, not validated.")
        services.records_add(submission=loaded, records=_records("ewe", RecordKind.ANIMAL, 12))
        services.set_status(loaded, Status.LOADED, "Import finished")

        revision = services.submission_create(owner=user, title="Pig trial", description="Validated with issues.")
        services.records_add(
            submission=revision,
            records=_records("sow", RecordKind.ANIMAL, 12) + _records("blood", RecordKind.SAMPLE, 5),
        )
        services.set_status(revision, Status.LOADED, "Import finished")
        results = [
            {"kind": RecordKind.ANIMAL, "name": f"sow-{n:03}", "outcome": ValidationOutcome.PASS} for n in range(1, 8)
        ] + [
            {
                "kind": RecordKind.ANIMAL,
                "name": f"sow-{n:03}",
                "outcome": ValidationOutcome.ERROR,
                "messages": [{"message": "Birth date is in the future", "offending_column": "birth_date"}],
            }
            for n in range(8, 11)
        ]
        services.validation_results_record(submission=revision, results=results, complete=True)
        self.stdout.write(f"Created user {DEMO_USERNAME!r} (password {DEMO_PASSWORD!r}) with 3 submissions.")
