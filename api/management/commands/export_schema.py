from django.core.management.base import BaseCommand
from strawberry.printer import print_schema

from api.schema import schema


class Command(BaseCommand):
    help = "Print the GraphQL schema (SDL); `make schema` writes it to schema.graphql."

    def handle(self, *args, **options):
        self.stdout.write(print_schema(schema))
