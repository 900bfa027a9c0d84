"""Reading images: sources, layer streams, whiteouts, layer attribution and bad input."""

from __future__ import annotations

import gzip
import json

import pytest

from scanning.engine.errors import ScanError
from scanning.engine.limits import Limits
from scanning.engine.model import Platform
from scanning.engine.scan import scan_path
from scanning.engine.sources import LocalImageSource
from tests.scanning.engine.images import (
    ALPINE_OS_RELEASE,
    APK_INSTALLED,
    DEBIAN_OS_RELEASE,
    DPKG_STATUS,
    Entry,
    Image,
    alpine_image,
    docker_archive_files,
    layer_tar,
    oci_files,
    sha,
    write_folder,
    write_tar,
)


def names(inventory):
    return sorted((c.name, c.version, c.source_name) for c in inventory.components)


ALPINE_PACKAGES = [
    ("libcrypto1.1", "1.1.1d-r3", "openssl"),
    ("musl", "1.1.24-r2", "musl"),
    ("musl-utils", "1.1.24-r2", "musl"),
]


@pytest.mark.parametrize("compression", ["gzip", "zstd", "plain"])
def test_oci_layout_folder_with_each_compression(tmp_path, compression):
    """Layers compressed with gzip, zstd or not at all are recognised by their magic bytes."""
    inventory = scan_path(write_folder(tmp_path, oci_files([alpine_image(compression)])))
    assert names(inventory) == ALPINE_PACKAGES
    assert inventory.image.os is not None
    assert (inventory.image.os.family, inventory.image.os.version) == ("alpine", "3.11.5")
    musl = next(c for c in inventory.components if c.name == "musl")
    assert musl.purl == "pkg:apk/alpine/musl@1.1.24-r2?arch=x86_64&distro=3.11.5"
    assert musl.ecosystem == "Alpine:v3.11"
    assert musl.licenses == ("MIT",)


def test_oci_layout_as_tar_and_docker_archive_agree(tmp_path):
    image = alpine_image()
    oci = scan_path(write_tar(tmp_path / "oci.tar", oci_files([image])))
    docker = scan_path(write_tar(tmp_path / "docker.tar.gz", docker_archive_files(image), gzip_outer=True))
    assert names(oci) == names(docker) == ALPINE_PACKAGES
    assert oci.image.layers[0].diff_id == docker.image.layers[0].diff_id == sha(image.layers[0])
    assert docker.image.repo_tags == ("example/app:1",)
    assert docker.image.config_digest == oci.image.config_digest == sha(image.config())


def test_multi_platform_index_picks_the_platform_asked_for(tmp_path):
    amd = alpine_image()
    arm = Image(
        layers=[layer_tar([("etc/os-release", DEBIAN_OS_RELEASE), ("var/lib/dpkg/status", DPKG_STATUS)])]
    )
    arm.architecture = "arm64"
    root = write_folder(tmp_path, oci_files([amd, arm]))
    assert names(scan_path(root)) == ALPINE_PACKAGES  # default linux/amd64
    debian = scan_path(root, platform=Platform.parse("linux/arm64"))
    assert debian.image.platform == Platform("linux", "arm64")
    assert {c.name for c in debian.components} == {"libssl1.1", "zlib1g", "bash"}
    with LocalImageSource(root) as source:
        assert len(source.manifests(all_platforms=True)) == 2
        with pytest.raises(ScanError, match="no image for platform linux/s390x"):
            source.manifests(Platform.parse("linux/s390x"))


def test_whiteouts_and_opaque_dirs_shape_the_final_filesystem(tmp_path):
    """A package database deleted by a whiteout, or hidden by an opaque dir, no longer counts."""
    base = layer_tar(
        [
            ("etc/os-release", ALPINE_OS_RELEASE),
            ("lib/apk/db/installed", APK_INSTALLED),
            ("opt/app/node_modules/left-pad/package.json", '{"name": "left-pad", "version": "1.3.0"}'),
        ]
    )
    remove_db = layer_tar([Entry("lib/apk/db/.wh.installed"), ("lib/apk/db/b.wh..wh..opq", "not a whiteout")])
    opaque = layer_tar([Entry("opt/app/.wh..wh..opq"), ("opt/app/keep.txt", "x")])
    inventory = scan_path(write_folder(tmp_path, oci_files([Image(layers=[base, remove_db, opaque])])))
    assert inventory.components == ()

    readd = layer_tar([("lib/apk/db/installed", APK_INSTALLED)])
    inventory = scan_path(write_folder(tmp_path / "b", oci_files([Image(layers=[base, remove_db, readd])])))
    assert [c.name for c in inventory.components if c.package_type == "npm"] == ["left-pad"]
    # re-added in layer 3, but the same name and version was already in layer 1's database
    assert {c.layer.index for c in inventory.components} == {0}


def test_layer_attribution_uses_the_lowest_layer_listing_the_package(tmp_path):
    first = layer_tar([("etc/os-release", DEBIAN_OS_RELEASE), ("var/lib/dpkg/status", DPKG_STATUS)])
    curl = "Package: curl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 7.74.0-1.3+deb11u7\n"
    second = layer_tar([("var/lib/dpkg/status", DPKG_STATUS + curl)])
    image = Image(
        layers=[first, second],
        history=[
            {"created_by": "/bin/sh -c #(nop) ADD rootfs.tar /"},
            {"created_by": "/bin/sh -c #(nop) ENV X=1", "empty_layer": True},
            {"created_by": "RUN apt-get install curl"},
        ],
    )
    inventory = scan_path(write_folder(tmp_path, oci_files([image])))
    layers = {c.name: c.layer.index for c in inventory.components}
    assert layers == {"libssl1.1": 0, "zlib1g": 0, "bash": 0, "curl": 1}
    curl_component = next(c for c in inventory.components if c.name == "curl")
    assert curl_component.layer.created_by == "RUN apt-get install curl"
    assert inventory.image.layers[0].created_by == "ADD rootfs.tar /"
    zlib = next(c for c in inventory.components if c.name == "zlib1g")
    assert (zlib.source_name, zlib.source_version) == ("zlib", "1:1.2.11.dfsg-2+deb11u2")
    assert zlib.purl == "pkg:deb/debian/zlib1g@1:1.2.11.dfsg-2%2Bdeb11u2?arch=amd64&distro=debian-11"
    assert zlib.ecosystem == "Debian:11"


def test_symlinked_os_release_and_hard_links_are_followed(tmp_path):
    layer = layer_tar(
        [
            ("usr/lib/os-release", DEBIAN_OS_RELEASE),
            Entry("etc/os-release", kind="symlink", target="../usr/lib/os-release"),
            ("var/lib/dpkg/status", DPKG_STATUS),
            Entry("var/lib/dpkg/status-old", kind="hardlink", target="var/lib/dpkg/status"),
        ]
    )
    inventory = scan_path(write_folder(tmp_path, oci_files([Image(layers=[layer])])))
    assert inventory.image.os is not None
    assert inventory.image.os.family == "debian"


# -- bad input -------------------------------------------------------------------------------------


def test_not_a_tarball(tmp_path):
    path = tmp_path / "image.tar"
    path.write_bytes(b"this is not a tar archive at all" * 100)
    with pytest.raises(ScanError, match="not a readable tar archive"):
        scan_path(path)


def test_missing_path(tmp_path):
    with pytest.raises(ScanError, match="does not exist"):
        LocalImageSource(tmp_path / "nothing")


def test_digest_mismatch_is_refused(tmp_path):
    files = oci_files([alpine_image()])
    layer_name = next(n for n, d in files.items() if n.startswith("blobs/") and d[:2] == b"\x1f\x8b")
    blob = bytearray(gzip.decompress(files[layer_name]))
    files[layer_name] = gzip.compress(bytes(blob).replace(b"musl-utils", b"musl-UTILS"))
    with pytest.raises(ScanError, match="digest mismatch"):
        scan_path(write_folder(tmp_path, files))


def test_truncated_gzip_layer(tmp_path):
    image = alpine_image()
    files = docker_archive_files(image)
    # a legacy archive has no blob digest: the diff id and the gzip stream catch the damage
    files["0" * 64 + "/layer.tar"] = gzip.compress(image.layers[0])[:-40]
    with pytest.raises(ScanError, match="not a readable"):
        scan_path(write_tar(tmp_path / "image.tar", files))


def test_gzip_bomb_is_capped(tmp_path):
    bomb = layer_tar([("zeros", b"\x00" * (4 * 1024 * 1024))])
    root = write_folder(tmp_path, oci_files([Image(layers=[bomb])]))
    with pytest.raises(ScanError, match="larger than the limit"):
        scan_path(root, limits=Limits(max_layer_bytes=1024 * 1024))


def test_file_bigger_than_the_read_cap_is_skipped_not_loaded(tmp_path):
    big = layer_tar([("var/lib/dpkg/status", DPKG_STATUS + "\n" * 5000)])
    inventory = scan_path(
        write_folder(tmp_path, oci_files([Image(layers=[big])])), limits=Limits(max_file_bytes=1000)
    )
    assert inventory.components == ()
    assert any("cap" in w for w in inventory.warnings)


def test_unsafe_entry_names_are_ignored(tmp_path):
    layer = layer_tar(
        [
            ("../../etc/os-release", DEBIAN_OS_RELEASE),
            ("/lib/apk/db/installed", APK_INSTALLED),
            ("etc/os-release", ALPINE_OS_RELEASE),
            ("etc/alpine-release", "3.11.5"),
        ]
    )
    inventory = scan_path(write_folder(tmp_path, oci_files([Image(layers=[layer])])))
    assert inventory.image.os is not None
    assert inventory.image.os.family == "alpine"
    assert names(inventory) == ALPINE_PACKAGES  # the absolute path is read as relative, like Docker
    assert any("unsafe name" in w for w in inventory.warnings)


def test_hard_link_outside_is_ignored(tmp_path):
    layer = layer_tar([Entry("lib/apk/db/installed", kind="hardlink", target="../../../etc/shadow")])
    inventory = scan_path(write_folder(tmp_path, oci_files([Image(layers=[layer])])))
    assert inventory.components == ()
    assert any("outside" in w for w in inventory.warnings)


def _apk(count: int, tag: str = "") -> str:
    return "".join(f"P:pkg{tag}{i}\nV:1.{i}-r0\no:pkg{tag}{i}\n\n" for i in range(count))


def test_hard_links_to_a_package_database_count_like_copies(tmp_path):
    """Thousands of links to one database share its bytes but would each be parsed: they count
    against the bytes an image may have analysed, so the scan ends instead of working for hours."""
    db = _apk(200)
    links = [
        Entry(f"var/lib/dpkg/status.d/link{i}", kind="hardlink", target="lib/apk/db/installed")
        for i in range(50)
    ]
    layer = layer_tar([("lib/apk/db/installed", db), *links])
    limits = Limits(max_total_file_bytes=len(db) * 10)
    with pytest.raises(ScanError, match="exceed the in-memory limit"):
        scan_path(write_folder(tmp_path, oci_files([Image(layers=[layer])])), limits=limits)
    # links at paths no analyzer reads cost nothing
    unread = [Entry(f"srv/copy{i}", kind="hardlink", target="lib/apk/db/installed") for i in range(50)]
    layer = layer_tar([("lib/apk/db/installed", db), *unread])
    inventory = scan_path(write_folder(tmp_path / "b", oci_files([Image(layers=[layer])])), limits=limits)
    assert len(inventory.components) == 200


def test_a_database_listing_too_many_packages_ends_the_scan(tmp_path):
    layer = layer_tar([("lib/apk/db/installed", _apk(101))])
    with pytest.raises(ScanError, match="lib/apk/db/installed lists more than 100 packages"):
        scan_path(write_folder(tmp_path, oci_files([Image(layers=[layer])])), limits=Limits(max_packages=100))
    exactly = layer_tar([("lib/apk/db/installed", _apk(100))])
    inventory = scan_path(
        write_folder(tmp_path / "b", oci_files([Image(layers=[exactly])])), limits=Limits(max_packages=100)
    )
    assert len(inventory.components) == 100


def test_package_versions_across_layers_are_bounded(tmp_path):
    layers = [layer_tar([("lib/apk/db/installed", _apk(80, tag=str(k)))]) for k in range(3)]
    with pytest.raises(ScanError, match="more than 200 package versions"):
        scan_path(write_folder(tmp_path, oci_files([Image(layers=layers)])), limits=Limits(max_packages=100))


def test_absurdly_long_names_are_skipped_with_a_warning(tmp_path):
    db = _apk(3) + "P:" + "x" * 300 + "\nV:1-r0\n\n"
    inventory = scan_path(
        write_folder(tmp_path, oci_files([Image(layers=[layer_tar([("lib/apk/db/installed", db)])])]))
    )
    assert sorted(c.name for c in inventory.components) == ["pkg0", "pkg1", "pkg2"]
    assert any("longer than 256 characters" in w for w in inventory.warnings)


def test_symlink_loop_ends_the_scan(tmp_path):
    layer = layer_tar(
        [
            Entry("etc/os-release", kind="symlink", target="os-release2"),
            Entry("etc/os-release2", kind="symlink", target="os-release"),
        ]
    )
    with pytest.raises(ScanError, match="symlink loop"):
        scan_path(write_folder(tmp_path, oci_files([Image(layers=[layer])])))


def test_huge_manifest_is_refused(tmp_path):
    files = docker_archive_files(alpine_image())
    files["manifest.json"] = b"[" + b" " * (5 * 1024 * 1024) + b"]"
    with pytest.raises(ScanError, match="larger than the limit"):
        scan_path(write_tar(tmp_path / "image.tar", files))


def test_too_many_layers(tmp_path):
    files = oci_files([alpine_image()])
    manifest_name = next(
        n
        for n, d in files.items()
        if d.startswith(b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest')
    )
    manifest = json.loads(files[manifest_name])
    manifest["layers"] = manifest["layers"] * 10_000
    data = json.dumps(manifest).encode()
    del files[manifest_name]
    files["blobs/sha256/" + sha(data).split(":")[1]] = data
    index = json.loads(files["index.json"])
    index["manifests"][0].update(digest=sha(data), size=len(data))
    files["index.json"] = json.dumps(index).encode()
    with pytest.raises(ScanError, match="10000 layers, more than the limit"):
        scan_path(write_folder(tmp_path, files))


def test_unknown_media_type(tmp_path):
    files = oci_files([alpine_image()])
    manifest_name = next(
        n
        for n, d in files.items()
        if d.startswith(b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest')
    )
    data = files.pop(manifest_name).replace(b"tar+gzip", b"tar+lz4")
    files["blobs/sha256/" + sha(data).split(":")[1]] = data
    index = json.loads(files["index.json"])
    index["manifests"][0].update(digest=sha(data), size=len(data))
    files["index.json"] = json.dumps(index).encode()
    with pytest.raises(ScanError, match="unsupported media type"):
        scan_path(write_folder(tmp_path, files))


def test_diff_id_mismatch(tmp_path):
    image = alpine_image()
    files = docker_archive_files(image)
    files["0" * 64 + "/layer.tar"] = layer_tar([("etc/alpine-release", "3.12.0")])
    with pytest.raises(ScanError, match="image config says"):
        scan_path(write_tar(tmp_path / "image.tar", files))


def test_an_archive_of_too_many_members_is_refused(tmp_path):
    files = {f"junk/{i}": b"" for i in range(30)}
    with pytest.raises(ScanError, match="holds more than 20 files"):
        LocalImageSource(write_tar(tmp_path / "image.tar", files), limits=Limits(max_archive_entries=20))
