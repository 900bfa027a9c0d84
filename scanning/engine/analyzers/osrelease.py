"""Which distribution the image is: os-release first, then the distribution's own release files."""

from __future__ import annotations

import shlex

from scanning.engine.analyzers.base import text
from scanning.engine.layers import FileSystem
from scanning.engine.model import OSInfo

OS_FILES = frozenset(
    {
        "etc/os-release",
        "usr/lib/os-release",
        "etc/alpine-release",
        "etc/debian_version",
        "etc/redhat-release",
        "etc/centos-release",
        "etc/system-release",
    }
)


def parse_os_release(data: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text(data).splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        try:
            parts = shlex.split(value)
        except ValueError:
            parts = [value.strip("\"'")]
        fields[key.strip()] = parts[0] if parts else ""
    return fields


def detect_os(fs: FileSystem) -> OSInfo | None:
    release = None
    for path in ("etc/os-release", "usr/lib/os-release"):
        found = fs.read(path)
        if found is not None:
            release = parse_os_release(found[0])
            break
    alpine = fs.read("etc/alpine-release")
    if alpine is not None:
        version = text(alpine[0]).strip().splitlines()[0] if alpine[0].strip() else ""
        name = (release or {}).get("PRETTY_NAME", "")
        return OSInfo("alpine", version or (release or {}).get("VERSION_ID", ""), name)
    if release and release.get("ID"):
        family = release["ID"].lower()
        version = release.get("VERSION_ID", "")
        if family == "debian" and not version:
            debian = fs.read("etc/debian_version")
            if debian is not None:
                version = text(debian[0]).strip()
        return OSInfo(family, version, release.get("PRETTY_NAME", ""), release.get("VERSION_CODENAME", ""))
    debian = fs.read("etc/debian_version")
    if debian is not None:
        return OSInfo("debian", text(debian[0]).strip())
    for path in ("etc/redhat-release", "etc/centos-release", "etc/system-release"):
        found = fs.read(path)
        if found is not None:
            line = text(found[0]).strip()
            family = "centos" if "CentOS" in line else "rhel"
            version = next((w for w in line.split() if w[:1].isdigit()), "")
            return OSInfo(family, version, line)
    return None
