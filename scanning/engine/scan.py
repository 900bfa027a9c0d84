"""Read an image into an inventory: layers streamed, final filesystem built, packages found."""

from __future__ import annotations

import os as _os
from collections.abc import Sequence
from typing import Any

from scanning.engine.analyzers import OS_FILES, Analyzer, FoundPackage, default_analyzers, detect_os
from scanning.engine.ecosystems import ecosystem_for, purl_for
from scanning.engine.errors import ScanError
from scanning.engine.layers import FileSystem, LayerFiles, read_layer
from scanning.engine.limits import DEFAULT_LIMITS, Limits
from scanning.engine.model import Component, ImageInfo, Inventory, Layer, OSInfo, Platform
from scanning.engine.sources import ImageManifest, ImageSource, open_source

NOP_PREFIX = "/bin/sh -c #(nop) "


def scan_source(
    source: ImageSource,
    *,
    platform: Platform | None = None,
    all_platforms: bool = False,
    analyzers: Sequence[Analyzer] | None = None,
) -> list[Inventory]:
    """One inventory per selected image of the source (one unless ``all_platforms``)."""
    manifests = source.manifests(platform, all_platforms)
    return [inventory_of(source, m, analyzers=analyzers) for m in manifests]


def scan_path(
    reference: str | _os.PathLike[str],
    *,
    platform: Platform | None = None,
    limits: Limits = DEFAULT_LIMITS,
    **registry_options: Any,
) -> Inventory:
    """The inventory of the image at a path (tarball, OCI layout) or registry reference."""
    with open_source(_os.fspath(reference), limits, **registry_options) as source:
        return scan_source(source, platform=platform)[0]


def _history(config: Any, count: int) -> list[str | None]:
    """``created_by`` for each non-empty layer, in order (history entries with empty_layer are skipped)."""
    history = config.get("history") if isinstance(config, dict) else None
    lines: list[str | None] = []
    if isinstance(history, list):
        for entry in history:
            if isinstance(entry, dict) and not entry.get("empty_layer"):
                created_by = entry.get("created_by")
                if isinstance(created_by, str) and created_by.startswith(NOP_PREFIX):
                    created_by = created_by[len(NOP_PREFIX) :]  # as Trivy shows it: the Dockerfile step
                lines.append(created_by if isinstance(created_by, str) else None)
    if len(lines) != count:
        # A history that does not line up with the layers would attribute steps wrongly.
        return [None] * count
    return lines


def _diff_ids(config: Any, count: int) -> list[str]:
    rootfs = config.get("rootfs") if isinstance(config, dict) else None
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if (
        not isinstance(diff_ids, list)
        or len(diff_ids) != count
        or not all(isinstance(d, str) for d in diff_ids)
    ):
        raise ScanError(f"the image config lists {len(diff_ids or [])} diff ids for {count} layers")
    return diff_ids


def inventory_of(
    source: ImageSource, manifest: ImageManifest, *, analyzers: Sequence[Analyzer] | None = None
) -> Inventory:
    limits = source.limits
    analyzers = list(analyzers) if analyzers is not None else default_analyzers()
    count = len(manifest.layers)
    if count > limits.max_layers:
        raise ScanError(f"the image has {count} layers, more than the limit of {limits.max_layers}")
    diff_ids = _diff_ids(manifest.config, count)
    created_by = _history(manifest.config, count)

    def wants(path: str) -> int | None:
        if path in OS_FILES:
            return limits.max_small_file_bytes
        best = None
        for analyzer in analyzers:
            cap = analyzer.wants(path, limits)
            if cap is not None and (best is None or cap > best):
                best = cap
        return best

    fs = FileSystem(max_symlink_hops=limits.max_symlink_hops)
    layers: list[Layer] = []
    warnings: list[str] = []
    # (analyzer index, name, version) -> lowest layer whose package database lists it
    first_seen: dict[tuple[int, str, str], int] = {}
    budget = [limits.max_total_file_bytes]
    for index, ref in enumerate(manifest.layers):
        what = f"layer {index + 1} of {count} ({ref.digest or ref.location})"
        stream = source.open_blob(ref)
        try:
            files, digest, diff_id = read_layer(
                stream,
                index=index,
                wants=wants,
                limits=limits,
                expected_digest=ref.digest,
                expected_diff_id=diff_ids[index],
                what=what,
                budget=budget,
            )
        finally:
            stream.close()
        warnings.extend(files.warnings)
        _record_databases(files, analyzers, limits, first_seen)
        layers.append(
            Layer(index, ref.digest or digest, diff_id, ref.media_type, ref.size, created_by[index])
        )
        fs.apply(files)

    os_info = detect_os(fs)
    components: list[Component] = []
    too_long = 0
    for position, analyzer in enumerate(analyzers):
        for found in analyzer.analyze(fs, os_info, limits):
            if _too_long(found, limits):
                too_long += 1
                continue
            if len(components) >= limits.max_packages:
                raise ScanError(f"the image lists more than {limits.max_packages} packages")
            layer_index = found.layer
            if analyzer.database:
                layer_index = first_seen.get((position, found.name, found.version), found.layer)
            components.append(_component(found, os_info, layers[layer_index] if layers else None))
    if too_long:
        warnings.append(
            f"skipped {too_long} package(s) whose name, version or source is longer than "
            f"{limits.max_name_chars} characters"
        )
    image = ImageInfo(
        manifest_digest=manifest.manifest_digest,
        config_digest=manifest.config_digest,
        platform=manifest.platform,
        layers=tuple(layers),
        os=os_info,
        repo_tags=manifest.repo_tags,
    )
    return Inventory(image=image, components=tuple(components), warnings=tuple(warnings))


def _record_databases(
    files: LayerFiles,
    analyzers: Sequence[Analyzer],
    limits: Limits,
    first_seen: dict[tuple[int, str, str], int],
) -> None:
    for path, node in files.nodes.items():
        if node.kind != "file" or node.data is None:
            continue
        for position, analyzer in enumerate(analyzers):
            if analyzer.database and analyzer.wants(path, limits) is not None:
                for count, found in enumerate(analyzer.parse(path, node.data, files.index, None), 1):
                    if count > limits.max_packages:
                        raise ScanError(
                            f"layer {files.index + 1}: /{path} lists more than {limits.max_packages} packages"
                        )
                    if _too_long(found, limits):
                        continue
                    first_seen.setdefault((position, found.name, found.version), files.index)
                    # every version of every package across the layers: bounded too
                    if len(first_seen) > 2 * limits.max_packages:
                        raise ScanError(
                            f"the image's package databases list more than {2 * limits.max_packages} "
                            "package versions"
                        )


def _too_long(found: FoundPackage, limits: Limits) -> bool:
    """No real package has such names; holding thousands of them would defeat the memory bound."""
    cap = limits.max_name_chars
    return (
        len(found.name) > cap
        or len(found.version) > cap
        or len(found.source_name) > cap
        or len(found.source_version) > cap
        or len(found.arch) > cap
        or sum(len(x) for x in found.licenses) > cap
    )


def _component(found: FoundPackage, os_info: OSInfo | None, layer: Layer | None) -> Component:
    return Component(
        name=found.name,
        version=found.version,
        source_name=found.source_name,
        source_version=found.source_version,
        package_type=found.package_type,
        ecosystem=ecosystem_for(found, os_info),
        purl=purl_for(found, os_info),
        path=found.path,
        layer=layer,
        arch=found.arch,
        licenses=found.licenses,
    )
