"""``registry_config`` writes a config the registry accepts; the e2e tests start it for real."""

from __future__ import annotations

import io
from pathlib import Path

import yaml
from django.core.management import call_command

from registry import tokens


def run(settings, tmp_path: Path, **options) -> tuple[dict, str]:
    settings.REGISTRY_TOKEN_KEY_FILE = str(tmp_path / "keys" / "token.key")
    settings.REGISTRY_TOKEN_CERT_FILE = str(tmp_path / "keys" / "token.crt")
    out = io.StringIO()
    call_command("registry_config", output=str(tmp_path / "cfg"), stdout=out, **options)
    return yaml.safe_load((tmp_path / "cfg" / "config.yml").read_text()), out.getvalue()


def test_writes_a_complete_config_and_creates_the_key(settings, tmp_path: Path) -> None:
    settings.REGISTRY_EVENTS_SECRET = ""
    settings.REGISTRY_SERVICE = "registry-test"
    settings.REGISTRY_ISSUER = "store-test"
    config, output = run(settings, tmp_path, site_url="https://store.example.com/")

    token = config["auth"]["token"]
    assert token["realm"] == "https://store.example.com/registry/token"
    assert token["service"] == "registry-test"
    assert token["issuer"] == "store-test"
    assert Path(token["rootcertbundle"]).read_bytes() == (tmp_path / "keys" / "token.crt").read_bytes()
    [endpoint] = config["notifications"]["endpoints"]
    assert endpoint["url"] == "https://store.example.com/registry/events"
    secret = (tmp_path / "keys" / "events-secret").read_text().strip()
    assert endpoint["headers"]["Authorization"] == [f"Bearer {secret}"]
    assert endpoint["ignore"] == {"mediatypes": ["application/octet-stream"]}, "pushes must still arrive"
    assert f"REGISTRY_EVENTS_SECRET={secret}" in output
    assert tokens.signing_key().kid in output
    assert (tmp_path / "keys" / "token.key").exists()


def test_a_second_run_keeps_the_key_and_the_secret(settings, tmp_path: Path) -> None:
    settings.REGISTRY_EVENTS_SECRET = ""
    first, _ = run(settings, tmp_path)
    kid = tokens.signing_key().kid
    second, output = run(
        settings, tmp_path, registry_path="/etc/docker/registry", events_url="http://web:8000/registry/events"
    )
    assert tokens.signing_key().kid == kid
    assert "Signing key" in output
    assert "kept" in output
    assert (
        second["notifications"]["endpoints"][0]["headers"]
        == first["notifications"]["endpoints"][0]["headers"]
    )
    assert second["notifications"]["endpoints"][0]["url"] == "http://web:8000/registry/events"
    assert second["auth"]["token"]["rootcertbundle"] == "/etc/docker/registry/token-bundle.crt"
    assert second["storage"]["filesystem"]["rootdirectory"] == "/etc/docker/registry/data"


def test_a_configured_secret_is_used(settings, tmp_path: Path) -> None:
    settings.REGISTRY_EVENTS_SECRET = "from-settings"
    config, output = run(settings, tmp_path)
    assert config["notifications"]["endpoints"][0]["headers"]["Authorization"] == ["Bearer from-settings"]
    assert "already set" in output
