"""Image references checked against the registry's grammar (distribution/reference).

    reference      := name ":" tag
    name           := path-component ("/" path-component)+
    path-component := [a-z0-9]+ (separator [a-z0-9]+)*
    separator      := [_.] | "__" | "-"+
    tag            := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}

A registry host is not allowed: staging sources and customer-facing repositories always live in
the store's own registry, under the publisher's namespace.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

PATH_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[_.]|__|-+)[a-z0-9]+)*$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
NAME_MAX = 255


def _check_name(name: str, *, example: str) -> None:
    if name != name.lower():
        raise ValidationError("Repository names use lowercase letters only.", code="reference_case")
    if len(name) > NAME_MAX:
        raise ValidationError(f"A repository name is at most {NAME_MAX} characters.", code="reference_length")
    components = name.split("/")
    if len(components) < 2:
        raise ValidationError(f"Write it as {example}.", code="reference_format")
    for component in components:
        if not PATH_COMPONENT_RE.match(component):
            raise ValidationError(
                f"“{component}” is not a valid repository path part: use lowercase letters and digits, "
                "with . _ __ or - only between them.",
                code="reference_component",
            )


def split_reference(value: str) -> tuple[str, str]:
    """(name, tag) of ``namespace/repo:tag``; raises ValidationError saying what is wrong."""
    value = value.strip()
    if "@" in value:
        raise ValidationError("Use a tag, not a digest: namespace/repository:tag.", code="reference_digest")
    name, sep, tag = value.rpartition(":")
    if not sep or "/" in tag:
        raise ValidationError(
            "Add a tag: write the staging source as namespace/repository:tag, e.g. acme/server:1.0.",
            code="reference_tag_missing",
        )
    _check_name(name, example="namespace/repository:tag")
    if not TAG_RE.match(tag):
        raise ValidationError(
            f"“{tag}” is not a valid tag: use letters, digits, _ . and -, not starting with . or -, "
            "at most 128 characters.",
            code="reference_tag",
        )
    return name, tag


def validate_reference(value: str) -> None:
    if value:
        split_reference(value)


def validate_repository(value: str) -> None:
    if not value:
        return
    if ":" in value or "@" in value:
        raise ValidationError("Write the repository without a tag, as namespace/name.", code="repository_tag")
    _check_name(value, example="namespace/name")


def check_namespace(value: str, namespace: str, *, what: str) -> None:
    """``value`` must sit in ``namespace``; says so without revealing who owns the other one."""
    if value and value.split("/", 1)[0] != namespace:
        raise ValidationError(
            f"The {what} must be in your namespace: start it with “{namespace}/”.",
            code="reference_foreign_namespace",
        )
