"""Images made in memory for upload tests."""

from __future__ import annotations

import io

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image


def image_bytes(width: int = 512, height: int = 512, fmt: str = "PNG", color: str = "#0b63ce") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format=fmt)
    return buffer.getvalue()


def upload(
    width: int = 512, height: int = 512, fmt: str = "PNG", name: str | None = None
) -> SimpleUploadedFile:
    content_type = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}[fmt]
    return SimpleUploadedFile(name or f"logo.{fmt.lower()}", image_bytes(width, height, fmt), content_type)
