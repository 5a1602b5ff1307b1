from django.core.management.base import BaseCommand, CommandError

from submissions import services
from submissions.exceptions import DomainError
from submissions.models import Status, Submission


class Command(BaseCommand):
    help = "Set a submission's status (an operator's change), published to its subscribers."

    def add_arguments(self, parser):
        parser.add_argument("id", type=int)
        parser.add_argument("status", choices=Status.values, type=str.upper)
        parser.add_argument("--message", default=None)
        parser.add_argument("--force", action="store_true", help="override the status transition rules")
        parser.add_argument("--include-validation", action="store_true", help="send the validation summary too")

    def handle(self, *args, id, status, message, force, include_validation, **options):
        try:
            event = services.set_status(id, status, message, include_validation=include_validation, force=force)
        except Submission.DoesNotExist:
            raise CommandError(f"Submission {id} does not exist.") from None
        except DomainError as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"Submission {id} is now {Status(event['status']).label} (version {event['version']}).")
