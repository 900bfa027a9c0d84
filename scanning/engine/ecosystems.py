"""OSV ecosystem names and package URLs for what the analyzers found."""

from __future__ import annotations

from packageurl import PackageURL

from scanning.engine.analyzers.base import FoundPackage
from scanning.engine.model import OSInfo

_RPM_ECOSYSTEMS = {
    "almalinux": "AlmaLinux",
    "rocky": "Rocky Linux",
    "mageia": "Mageia",
    "opensuse-leap": "openSUSE",
    "sles": "SUSE",
    "rhel": "Red Hat",
}
_PURL_NAMESPACE = {"rhel": "redhat", "opensuse-leap": "opensuse", "sles": "suse"}


def os_ecosystem(os: OSInfo | None) -> str:
    """``Alpine:v3.11``, ``Debian:11``, ``Ubuntu:22.04``: how OSV names the distribution release."""
    if os is None or not os.version:
        return ""
    parts = os.version.split(".")
    if os.family == "alpine":
        return f"Alpine:v{'.'.join(parts[:2])}" if len(parts) >= 2 else ""
    if os.family == "debian":
        return f"Debian:{parts[0]}" if parts[0].isdigit() else ""
    if os.family == "ubuntu":
        return f"Ubuntu:{'.'.join(parts[:2])}"
    if os.family in ("almalinux", "rocky", "mageia"):
        return f"{_RPM_ECOSYSTEMS[os.family]}:{parts[0]}"
    if os.family == "opensuse-leap":
        return f"openSUSE:Leap {os.version}"
    return ""


def ecosystem_for(package: FoundPackage, os: OSInfo | None) -> str:
    if package.package_type == "pypi":
        return "PyPI"
    if package.package_type == "npm":
        return "npm"
    return os_ecosystem(os)


def purl_for(package: FoundPackage, os: OSInfo | None) -> str:
    qualifiers: dict[str, str] = {}
    if package.package_type in ("apk", "deb", "rpm"):
        if package.arch:
            qualifiers["arch"] = package.arch
        if package.package_type == "rpm" and package.epoch:
            qualifiers["epoch"] = str(package.epoch)
        if os is not None and os.version:
            qualifiers["distro"] = (
                f"{os.family}-{os.version}" if package.package_type != "apk" else os.version
            )
        namespace = _PURL_NAMESPACE.get(os.family, os.family) if os is not None else None
        version = package.version
        if package.package_type == "rpm" and package.epoch and version.startswith(f"{package.epoch}:"):
            version = version.split(":", 1)[1]
        return PackageURL(
            type=package.package_type,
            namespace=namespace,
            name=package.name,
            version=version,
            qualifiers=qualifiers,
        ).to_string()
    if package.package_type == "npm" and package.name.startswith("@") and "/" in package.name:
        scope, name = package.name.split("/", 1)
        return PackageURL(type="npm", namespace=scope, name=name, version=package.version).to_string()
    return PackageURL(type=package.package_type, name=package.name, version=package.version).to_string()
