"""``create_access_token EMAIL --name NAME``: prints only the token, so scripts can capture it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts import services
from accounts.models import Scope, User


class Command(BaseCommand):
    help = (
        "Create a personal access token for the account with EMAIL and print only the token on "
        "stdout. Errors go to stderr with a non-zero exit status."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="Email address of an existing account.")
        parser.add_argument("--name", required=True, help="A name the owner will recognise in the list.")
        parser.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            metavar="SCOPE",
            help=f"Repeat for several: {', '.join(Scope.values)}. Default: {Scope.READ}.",
        )
        parser.add_argument(
            "--expires-in-days", type=int, default=None, help="Days until it stops working. Default: never."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        email: str = options["email"]
        user = User.objects.filter(email=email.strip().lower()).first()
        if user is None:
            raise CommandError(f"No account has the email address {email}.")
        days: int | None = options["expires_in_days"]
        if days is not None and days < 1:
            raise CommandError("--expires-in-days must be 1 or more.")
        try:
            _, raw = services.access_token_create(
                user=user,
                name=options["name"],
                scopes=options["scopes"] or [Scope.READ],
                expires_at=timezone.now() + timedelta(days=days) if days is not None else None,
                actor=None,
            )
        except ValidationError as exc:
            problems = [
                f"{field}: {message}" for field, errors in exc.message_dict.items() for message in errors
            ]
            raise CommandError("; ".join(problems)) from None
        self.stdout.write(raw)
