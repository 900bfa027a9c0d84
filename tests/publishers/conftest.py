"""Fixtures for the publisher tests: an admin persona, uploads good and bad, valid form data."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from accounts.models import User
from publishers.models import Membership, Role
from tests.factories import MembershipFactory, UserFactory
from tests.images import image_bytes, upload


@pytest.fixture
def acme_admin(personas) -> User:
    """An admin of acme (the shared personas have owner, editor and viewer)."""
    user = UserFactory(email="admin@acme.example.com", full_name="Ada Admin")
    MembershipFactory(publisher=personas.acme, user=user, role=Role.ADMIN)
    return user


@pytest.fixture
def people(personas, acme_admin) -> dict[str, User]:
    """Each acme role by name, plus the outsider."""
    return {
        "owner": personas.owner,
        "admin": acme_admin,
        "editor": personas.member,
        "viewer": personas.viewer,
        "outsider": personas.outsider,
    }


@pytest.fixture
def target(personas) -> Membership:
    """A viewer of acme whom the role and remove actions act on."""
    user = UserFactory(email="target@acme.example.com", full_name="Tom Target")
    return MembershipFactory(publisher=personas.acme, user=user, role=Role.VIEWER)


@pytest.fixture
def login() -> Callable[[User], Client]:
    def make(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` pixels: a decompression bomb."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="512" height="512">'
    b'<rect width="512" height="512" fill="#0b63ce"/></svg>'
)

# name -> (upload maker, words the specific message must contain)
BAD_LOGOS: dict[str, tuple[Callable[[], SimpleUploadedFile], str]] = {
    "not square": (lambda: upload(800, 600), "must be square; this one is 800x600"),
    "too small": (lambda: upload(256, 256), "at least 512x512 pixels; this one is 256x256"),
    "not an image": (
        lambda: SimpleUploadedFile("logo.png", b"this is a text file, not a picture", "image/png"),
        "not a readable image",
    ),
    "svg": (
        lambda: SimpleUploadedFile("logo.svg", SVG, "image/svg+xml"),
        "SVG (vector) images are not accepted",
    ),
    "decompression bomb": (
        lambda: SimpleUploadedFile("bomb.png", bomb_png(), "image/png"),
        "decompression bomb",
    ),
    "gif": (lambda: upload(512, 512, "GIF"), "GIF files are not accepted"),
}


@pytest.fixture
def profile_data() -> Callable[..., dict[str, Any]]:
    """Valid onboarding step 1 input, with a fresh logo each call; override any field."""

    def make(**overrides: Any) -> dict[str, Any]:
        data: dict[str, Any] = {
            "namespace": "initech",
            "legal_name": "Initech LLC",
            "website": "https://initech.example.com",
            "phone": "+1 (415) 555-0132",
            "company_email": "Hello@Initech.example.com",
            "logo": upload(),
            "story": "We make TPS report containers.",
        }
        data.update(overrides)
        return {key: value for key, value in data.items() if value is not None}

    return make


@pytest.fixture
def big_logo(settings) -> Callable[[], SimpleUploadedFile]:
    """A valid image over a lowered upload limit."""
    settings.MAX_IMAGE_UPLOAD_BYTES = 20_000

    def make() -> SimpleUploadedFile:
        return SimpleUploadedFile("big.png", image_bytes(1024, 1024, "PNG") + b"\x00" * 30_000, "image/png")

    return make
