"""``python manage.py import_osv PATH``: import OSV records from a folder or zip (osv.dev's bulk layout)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from scanning import services


class Command(BaseCommand):
    help = (
        "Import OSV vulnerability records from a folder (ecosystem sub-folders allowed) or a zip of "
        "JSON files. Idempotent and incremental by `modified`; bad records are reported and skipped. "
        "Stored inventories affected by a change are re-matched."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="A folder or a .zip of OSV JSON records.")
        parser.add_argument(
            "--no-rematch", action="store_true", help="Do not re-match stored inventories afterwards."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = services.advisories_import(path=options["path"], rematch=not options["no_rematch"])
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        for name, reason in report.refused:
            self.stderr.write(f"refused {name}: {reason}")
        self.stdout.write(
            f"added {report.added}, changed {report.changed}, unchanged {report.unchanged}, "
            f"refused {len(report.refused)}"
        )
        if report.rematch_scan_ids:
            self.stdout.write(f"re-matching {len(report.rematch_scan_ids)} stored scan(s)")
