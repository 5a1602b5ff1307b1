from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from api.auth import api_token_create


class Command(BaseCommand):
    help = "Create an API token and print it, alone, on standard output (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--create-user", action="store_true", help="create the user if it does not exist")
        parser.add_argument("--service", action="store_true", help="a service token: sees all, may change statuses")

    def handle(self, *args, username, create_user, service, **options):
        User = get_user_model()
        if create_user:
            user, _ = User.objects.get_or_create(username=username)
        else:
            try:
                user = User.objects.get(username=username)
            except User.DoesNotExist:
                raise CommandError(f"No user {username!r}; pass --create-user to create one.") from None
        self.stdout.write(api_token_create(user=user, is_service=service))
