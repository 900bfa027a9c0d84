"""``registry_config --output DIR``: everything the registry needs to trust the store.

Writes DIR/config.yml and DIR/token-bundle.crt, creates the token signing key and certificate if
missing, and prints the settings the store needs (the events secret). Then:

    docker-registry serve DIR/config.yml
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from registry import tokens
from registry.client import registry_url

BUNDLE_NAME = "token-bundle.crt"
SECRET_NAME = "events-secret"


def build_config(
    *,
    addr: str,
    storage: str,
    realm: str,
    events_url: str,
    bundle: str,
    events_secret: str,
    http_secret: str,
    debug_addr: str = "",
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text", "fields": {"service": "registry"}},
        "storage": {
            "filesystem": {"rootdirectory": storage},
            "delete": {"enabled": True},
            "cache": {"blobdescriptor": "inmemory"},
        },
        "http": {
            "addr": addr,
            "secret": http_secret,
            "headers": {"X-Content-Type-Options": ["nosniff"]},
        },
        "auth": {
            "token": {
                "realm": realm,
                "service": tokens.service(),
                "issuer": tokens.issuer(),
                "rootcertbundle": bundle,
            }
        },
        "notifications": {
            "events": {"includereferences": True},
            "endpoints": [
                {
                    "name": "store",
                    "url": events_url,
                    "headers": {"Authorization": [f"Bearer {events_secret}"]},
                    "timeout": "2s",
                    "threshold": 5,
                    "backoff": "1s",
                    # Blob events (layers, configs) arrive as octet-stream: they are never downloads
                    # and never scanned. Pushes are kept: a manifest push to staging queues a scan.
                    "ignore": {"mediatypes": ["application/octet-stream"]},
                }
            ],
        },
    }
    if debug_addr:
        config["http"]["debug"] = {"addr": debug_addr}
    return config


class Command(BaseCommand):
    help = (
        "Write a complete config.yml for the Docker Registry (token auth against this store, "
        "notifications to it), creating the token signing key and certificate if missing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output", required=True, help="Folder for config.yml and the certificate bundle."
        )
        parser.add_argument(
            "--site-url",
            default="",
            help="How docker clients reach the store (the token realm). Default: SITE_URL.",
        )
        parser.add_argument(
            "--events-url",
            default="",
            help="How the registry reaches the store's events endpoint. Default: SITE_URL/registry/events.",
        )
        parser.add_argument(
            "--addr", default="", help="Address the registry listens on. Default: host:port of REGISTRY_URL."
        )
        parser.add_argument(
            "--storage",
            default="",
            help="Where the registry keeps images. Default: OUTPUT/data (as the registry sees it).",
        )
        parser.add_argument(
            "--registry-path",
            default="",
            help="Where the registry sees OUTPUT, if it runs elsewhere (a container). Default: OUTPUT.",
        )
        parser.add_argument(
            "--debug-addr", default="", help="Address of the registry's debug server (off by default)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        output = Path(options["output"]).resolve()
        output.mkdir(parents=True, exist_ok=True)
        seen_as = Path(options["registry_path"] or output)
        site_url = (options["site_url"] or settings.SITE_URL).rstrip("/")
        events_url = options["events_url"] or f"{site_url}/registry/events"
        addr = options["addr"] or registry_url().split("://", 1)[-1].split("/", 1)[0]

        key_file, cert_file = tokens.key_path(), tokens.cert_path()
        try:
            key_created, cert_created = tokens.create_key_and_certificate(
                key_file=key_file, cert_file=cert_file
            )
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot create the signing key or certificate: {exc}") from None
        shutil.copyfile(cert_file, output / BUNDLE_NAME)

        secret, secret_source = self._events_secret(key_file.parent / SECRET_NAME)
        config = build_config(
            addr=addr,
            storage=options["storage"] or str(seen_as / "data"),
            realm=f"{site_url}/registry/token",
            events_url=events_url,
            bundle=str(seen_as / BUNDLE_NAME),
            events_secret=secret,
            http_secret=secrets.token_urlsafe(32),
            debug_addr=options["debug_addr"],
        )
        config_file = output / "config.yml"
        config_file.touch(mode=0o600)
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))

        write = self.stdout.write
        write(f"Wrote {config_file} (kid {tokens.signing_key().kid}).")
        write(f"Signing key {key_file}: {'created' if key_created else 'kept'}.")
        write(
            f"Certificate {cert_file}: {'created' if cert_created else 'kept'}; bundle {output / BUNDLE_NAME}."
        )
        write(f"Start the registry with: docker-registry serve {config_file}")
        write("")
        write("Set in the store's environment:")
        if secret_source == "settings":
            write("  REGISTRY_EVENTS_SECRET is already set; the config uses it.")
        else:
            write(f"  REGISTRY_EVENTS_SECRET_FILE={key_file.parent / SECRET_NAME}")
            write(f"  (or REGISTRY_EVENTS_SECRET={secret})")
        write(f"  REGISTRY_TOKEN_KEY_FILE={key_file}")
        write(f"  REGISTRY_TOKEN_CERT_FILE={cert_file}")

    def _events_secret(self, path: Path) -> tuple[str, str]:
        """The configured secret, else the one kept beside the key, else a new one written there."""
        configured = str(getattr(settings, "REGISTRY_EVENTS_SECRET", ""))
        if configured:
            return configured, "settings"
        if path.exists():
            return path.read_text().strip(), "file"
        value = secrets.token_urlsafe(32)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(value + "\n")
        return value, "generated"
