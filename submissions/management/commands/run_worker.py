"""run_worker: the reference service client (the `worker` package), with a service token."""

import asyncio
import logging
import os
import signal
import socket

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from api.auth import api_token_create, hash_token
from api.models import ApiToken
from worker.client import Client
from worker.worker import Settings, Worker

TOKEN_VARIABLE = "WORKER_TOKEN"


class Command(BaseCommand):
    help = (
        "Claim work requests and do them (validation, submission to an archive stand-in) through the public "
        f"GraphQL API. The service token comes from ${TOKEN_VARIABLE}, or --service-user makes one for this run."
    )

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000/graphql/", help="the GraphQL endpoint")
        parser.add_argument(
            "--service-user",
            metavar="USERNAME",
            help="make a service token for USERNAME (created if missing, with no password) for this run only",
        )
        parser.add_argument("--name", default=f"{socket.gethostname()}-{os.getpid()}", help="the worker's name")
        parser.add_argument("--lease-seconds", type=int, default=Settings.lease_seconds)
        parser.add_argument("--poll-seconds", type=float, default=Settings.poll_seconds)
        parser.add_argument("--batch-size", type=int, default=Settings.batch_size)
        parser.add_argument("--pause-seconds", type=float, default=Settings.pause_seconds, help="between batches")

    def handle(self, *args, **options):
        logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
        token = os.environ.get(TOKEN_VARIABLE)
        made = None
        if options["service_user"]:
            token = made = self._service_token(options["service_user"])
        if not token:
            raise CommandError(
                f"Set {TOKEN_VARIABLE} to a service token (create_api_token --service), or pass --service-user."
            )
        settings = Settings(
            name=options["name"],
            lease_seconds=options["lease_seconds"],
            poll_seconds=options["poll_seconds"],
            batch_size=options["batch_size"],
            pause_seconds=options["pause_seconds"],
        )
        # Stopped like Ctrl-C (make run stops it so): the token made for this run is deleted on the way out.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            asyncio.run(Worker(Client(options["url"], token), settings).run())
        except KeyboardInterrupt:
            pass
        finally:
            if made:  # a token for this run only: it must not outlive it
                ApiToken.objects.filter(key_hash=hash_token(made)).delete()

    def _service_token(self, username: str) -> str:
        user, created = get_user_model().objects.get_or_create(username=username)
        if created:
            user.set_unusable_password()
            user.save()
        return api_token_create(user=user, is_service=True)
