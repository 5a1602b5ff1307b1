from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from submissions import services
from submissions.models import RecordKind, Status, Submission, ValidationOutcome
from worker.validation import IN_THE_FUTURE

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"


def _animals(prefix: str, count: int, breed: str, **overrides: dict) -> list[dict]:
    """Animals named prefix-001...; `overrides` maps a name to the attributes that differ (a mistake to fix)."""
    records = []
    for n in range(1, count + 1):
        name = f"{prefix}-{n:03}"
        attributes = {"breed": breed, "sex": "female", "birth_date": f"2024-03-{n:02}", **overrides.get(name, {})}
        records.append({"kind": RecordKind.ANIMAL, "name": name, "attributes": attributes})
    return records


def _samples(prefix: str, count: int, animal_prefix: str) -> list[dict]:
    return [
        {
            "kind": RecordKind.SAMPLE,
            "name": f"{prefix}-{n:03}",
            "attributes": {"animal": f"{animal_prefix}-{n:03}", "collection_date": "2025-06-01", "tissue": "blood"},
        }
        for n in range(1, count + 1)
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

        services.submission_create(
            owner=user, title="Cattle herd 2026", description="Spring calves from the farm register."
        )

        loaded = services.submission_create(
            owner=user, title="Sheep flock", description="Twelve Texel ewes and six wool samples."
        )
        # One mistake for validation to find, and the owner to fix: a date that does not exist.
        ewes = _animals("ewe", 12, "Texel", **{"ewe-007": {"birth_date": "2024-02-30"}})
        services.records_add(submission=loaded, records=ewes + _samples("wool", 6, "ewe"))
        services.set_status(loaded, Status.LOADED, "Import finished")

        revision = services.submission_create(
            owner=user, title="Pig trial", description="Twelve Large White sows and five blood samples."
        )
        services.records_add(
            submission=revision,
            records=_animals(
                "sow", 12, "Large White", **{f"sow-{n:03}": {"birth_date": "2099-01-01"} for n in (8, 9, 10)}
            )
            + _samples("blood", 5, "sow"),
        )
        services.set_status(revision, Status.LOADED, "Import finished")
        # As the reference worker would report them, in its words, so that validating again changes no message.
        results = [
            {"kind": RecordKind.ANIMAL, "name": f"sow-{n:03}", "outcome": ValidationOutcome.PASS} for n in range(1, 8)
        ] + [
            {
                "kind": RecordKind.ANIMAL,
                "name": f"sow-{n:03}",
                "outcome": ValidationOutcome.ERROR,
                "messages": [{"message": IN_THE_FUTURE, "offending_column": "birth_date"}],
            }
            for n in range(8, 11)
        ]
        services.validation_results_record(submission=revision, results=results, complete=True)
        self.stdout.write(f"Created user {DEMO_USERNAME!r} (password {DEMO_PASSWORD!r}) with 3 submissions.")
