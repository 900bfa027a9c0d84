"""The inventory as a CycloneDX 1.5 JSON document."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from scanning.engine.model import Component, Inventory

TOOL_NAME = "container-store-scanner"


def _properties(component: Component) -> list[dict[str, str]]:
    props = {
        "store:package:type": component.package_type,
        "store:package:path": component.path,
        "store:package:source_name": component.source_name,
        "store:package:source_version": component.source_version,
        "store:ecosystem": component.ecosystem,
    }
    if component.layer is not None:
        props["store:layer:digest"] = component.layer.digest
        props["store:layer:diff_id"] = component.layer.diff_id
        props["store:layer:index"] = str(component.layer.index)
        if component.layer.created_by:
            props["store:layer:created_by"] = component.layer.created_by
    return [{"name": k, "value": v} for k, v in props.items() if v]


def to_cyclonedx(
    inventory: Inventory, *, serial: uuid.UUID | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """A CycloneDX 1.5 BOM: the image as the metadata component, one library per package.

    bom-refs are the package URLs (made unique when two paths hold the same package), so the BOM
    is stable between scans of the same image.
    """
    image = inventory.image
    image_ref = image.manifest_digest or image.config_digest
    components = []
    used: set[str] = set()
    for component in inventory.components:
        ref = component.purl
        n = 1
        while ref in used:
            n += 1
            ref = f"{component.purl}#{n}"
        used.add(ref)
        entry: dict[str, Any] = {
            "type": "library",
            "bom-ref": ref,
            "name": component.name,
            "version": component.version,
            "purl": component.purl,
            "properties": _properties(component),
        }
        if component.licenses:
            entry["licenses"] = [
                {"expression": lic} if " " in lic else {"license": {"name": lic}}
                for lic in component.licenses
            ]
        components.append(entry)
    if image.os is not None:
        components.append(
            {
                "type": "operating-system",
                "bom-ref": f"os:{image.os.family}@{image.os.version}",
                "name": image.os.family,
                "version": image.os.version,
                "description": image.os.name or None,
            }
        )
        components[-1] = {k: v for k, v in components[-1].items() if v is not None}
    metadata_component: dict[str, Any] = {
        "type": "container",
        "bom-ref": image_ref,
        "name": image.repo_tags[0] if image.repo_tags else image_ref,
        "version": image_ref,
        "properties": [{"name": "store:image:config_digest", "value": image.config_digest}]
        + [{"name": "store:image:platform", "value": str(image.platform)}]
        + [{"name": f"store:image:layer:{layer.index}", "value": layer.diff_id} for layer in image.layers],
    }
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{serial or uuid.uuid4()}",
        "version": 1,
        "metadata": {
            "timestamp": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tools": {"components": [{"type": "application", "name": TOOL_NAME}]},
            "component": metadata_component,
        },
        "components": components,
        "dependencies": [{"ref": image_ref, "dependsOn": [c["bom-ref"] for c in components]}],
    }
