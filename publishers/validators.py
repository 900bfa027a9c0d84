"""Checks on what publishers type and upload. Each failure names what is wrong."""

from __future__ import annotations

import contextlib
import re
import warnings
from typing import IO, Any

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from PIL import Image

# One path component of a registry repository name (distribution's reference grammar), kept to
# lowercase alphanumerics with single separators, and short enough to read in a pull command.
NAMESPACE_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
NAMESPACE_MIN, NAMESPACE_MAX = 2, 30

# Names that would impersonate the store or collide with its own repositories and routes.
RESERVED_NAMESPACES = frozenset(
    {
        "admin", "api", "billing", "docker", "dockerhub", "help", "invitations", "library", "login",
        "logout", "moderator", "moderators", "new", "official", "publisher", "publishers", "registry", "root",
        "search", "security", "signup", "staff", "static", "media", "staging", "store", "support",
        "system", "team", "token", "v1", "v2", "www",
    }
)  # fmt: skip

LOGO_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
LOGO_MIN_SIZE = 512


def validate_namespace(value: str) -> None:
    if value != value.lower():
        raise ValidationError("Use lowercase letters only.", code="namespace_case")
    if not NAMESPACE_MIN <= len(value) <= NAMESPACE_MAX:
        raise ValidationError(f"Use {NAMESPACE_MIN} to {NAMESPACE_MAX} characters.", code="namespace_length")
    if not NAMESPACE_RE.match(value):
        raise ValidationError(
            "Use letters, digits and single separators (. _ -) between them, "
            "starting and ending with a letter or digit.",
            code="namespace_format",
        )
    if value in RESERVED_NAMESPACES:
        raise ValidationError(f"“{value}” is reserved by the store.", code="namespace_reserved")


def normalize_phone(value: str) -> str:
    """The number in E.164 form; raises ValidationError when it is not a valid number."""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise ValidationError(
            "Enter the number in international format, starting with + and the country code.",
            code="phone_format",
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError("This is not a valid phone number.", code="phone_invalid")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def validate_phone(value: str) -> None:
    normalize_phone(value)


def validate_self_help_links(value: str) -> None:
    """One http(s) URL per line; blank lines are ignored. The message names the bad line."""
    check = URLValidator(schemes=["http", "https"])
    for number, line in enumerate(value.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        try:
            check(line)
        except ValidationError:
            raise ValidationError(
                f"Line {number} is not a web address (http:// or https://): “{line[:80]}”.",
                code="self_help_link",
            ) from None


def _megabytes(size: int) -> str:
    return f"{size / 1048576:.2f}".rstrip("0").rstrip(".") + " MB"


def check_image(
    file: IO[bytes] | Any,
    *,
    formats: dict[str, str] = LOGO_FORMATS,
    min_size: int = 0,
    square: bool = False,
    max_bytes: int | None = None,
) -> tuple[str, int, int]:
    """Open an uploaded image safely and return (format, width, height).

    The header is read before any pixel is decoded, so a decompression bomb is refused by its
    declared size; then the whole image is decoded once to catch truncated or corrupt files.
    """
    max_bytes = max_bytes or settings.MAX_IMAGE_UPLOAD_BYTES
    size = getattr(file, "size", None)
    if size is not None and size > max_bytes:
        raise ValidationError(
            f"The file is {_megabytes(size)}; the limit is {_megabytes(max_bytes)}.", code="image_too_large"
        )
    allowed = ", ".join(sorted(formats))
    try:
        file.seek(0)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file) as image:
                image_format = image.format or ""
                width, height = image.size
                if image_format not in formats:
                    raise ValidationError(
                        f"{image_format or 'This'} files are not accepted; use {allowed}.",
                        code="image_format",
                    )
                if width * height > settings.MAX_IMAGE_PIXELS:
                    raise ValidationError(
                        f"The image is {width}x{height} pixels, too many to process safely.",
                        code="image_bomb",
                    )
                image.verify()
        file.seek(0)
        with Image.open(file) as image:
            image.load()
    except ValidationError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValidationError(
            "The image declares more pixels than it can safely hold (a decompression bomb).",
            code="image_bomb",
        ) from None
    except Exception:  # Pillow raises many types for unreadable input
        if _looks_like_svg(file):
            raise ValidationError(
                f"SVG (vector) images are not accepted; export the logo as {allowed} instead.",
                code="image_svg",
            ) from None
        raise ValidationError(
            f"This file is not a readable image; upload {allowed}.", code="image_invalid"
        ) from None
    finally:
        with contextlib.suppress(Exception):  # a closed file needs no rewind
            file.seek(0)
    if square and width != height:
        raise ValidationError(
            f"The image must be square; this one is {width}x{height} pixels.", code="image_not_square"
        )
    if min_size and (width < min_size or height < min_size):
        raise ValidationError(
            f"The image must be at least {min_size}x{min_size} pixels; this one is {width}x{height}.",
            code="image_too_small",
        )
    return image_format, width, height


def _looks_like_svg(file: IO[bytes] | Any) -> bool:
    try:
        file.seek(0)
        head = file.read(1024)
    except Exception:  # unreadable: not worth a more specific message
        return False
    if isinstance(head, str):
        head = head.encode()
    head = head.lstrip(b"\xef\xbb\xbf").lstrip().lower()
    return head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head)


def validate_logo(file: Any) -> None:
    # Files already stored were checked on upload; only new uploads are opened again.
    if getattr(file, "_committed", True) and not hasattr(file, "content_type"):
        return
    check_image(file, min_size=LOGO_MIN_SIZE, square=True)
