"""Analyzers on files built here: rpm headers in a sqlite rpmdb, Python metadata, npm, distroless dpkg."""

from __future__ import annotations

import sqlite3
import struct

from scanning.engine.analyzers.rpm import RpmAnalyzer, parse_header, split_source_rpm
from scanning.engine.scan import scan_path
from tests.scanning.engine.images import Image, layer_tar, oci_files, write_folder


def rpm_header(tags: dict[int, str | int]) -> bytes:
    """An rpmdb header blob: count, data length, 16-byte index entries, then the data store."""
    index, store = b"", b""
    for tag, value in tags.items():
        if isinstance(value, int):
            while len(store) % 4:
                store += b"\x00"
            index += struct.pack(">iiii", tag, 4, len(store), 1)
            store += struct.pack(">i", value)
        else:
            index += struct.pack(">iiii", tag, 6, len(store), 1)
            store += value.encode() + b"\x00"
    return struct.pack(">ii", len(tags), len(store)) + index + store


def rpmdb(headers: list[bytes]) -> bytes:
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
    connection.executemany("INSERT INTO Packages (blob) VALUES (?)", [(h,) for h in headers])
    connection.commit()
    data = connection.serialize()
    connection.close()
    return data


OPENSSL_LIBS = {
    1000: "openssl-libs",
    1001: "3.0.7",
    1002: "27.el9",
    1003: 1,
    1022: "x86_64",
    1044: "openssl-3.0.7-27.el9.src.rpm",
    1014: "Apache-2.0",
}
BASH = {1000: "bash", 1001: "5.1.8", 1002: "9.el9", 1022: "x86_64", 1044: "bash-5.1.8-9.el9.src.rpm"}
ROCKY_OS = 'ID="rocky"\nVERSION_ID="9.3"\nPRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"\n'


def test_rpm_header_parsing():
    tags = parse_header(rpm_header(OPENSSL_LIBS))
    assert tags[1000] == "openssl-libs"
    assert tags[1003] == 1
    assert split_source_rpm("openssl-3.0.7-27.el9.src.rpm") == ("openssl", "3.0.7", "27.el9")


def test_rpmdb_sqlite_in_an_image(tmp_path):
    layer = layer_tar(
        [
            ("etc/os-release", ROCKY_OS),
            ("var/lib/rpm/rpmdb.sqlite", rpmdb([rpm_header(OPENSSL_LIBS), rpm_header(BASH), b"garbage"])),
        ]
    )
    inventory = scan_path(write_folder(tmp_path, oci_files([Image(layers=[layer])])))
    found = {(c.name, c.version, c.source_name, c.source_version) for c in inventory.components}
    assert found == {
        ("openssl-libs", "1:3.0.7-27.el9", "openssl", "1:3.0.7-27.el9"),
        ("bash", "5.1.8-9.el9", "bash", "5.1.8-9.el9"),
    }
    libs = next(c for c in inventory.components if c.name == "openssl-libs")
    assert libs.ecosystem == "Rocky Linux:9"
    assert libs.purl == "pkg:rpm/rocky/openssl-libs@3.0.7-27.el9?arch=x86_64&distro=rocky-9.3&epoch=1"


def test_not_an_rpmdb_gives_nothing():
    assert list(RpmAnalyzer().parse("var/lib/rpm/rpmdb.sqlite", b"not sqlite", 0, None)) == []


def test_python_and_npm_packages(tmp_path):
    metadata = "Metadata-Version: 2.1\nName: Django_Rest.framework\nVersion: 3.15.1\nLicense: BSD\n\nLong description\nName: not-this\n"
    layer = layer_tar(
        [
            ("usr/lib/python3/dist-packages/Django_Rest.framework-3.15.1.dist-info/METADATA", metadata),
            ("usr/lib/python3/site-packages/six.egg-info/PKG-INFO", "Name: six\nVersion: 1.16.0\n"),
            (
                "app/node_modules/@babel/core/package.json",
                '{"name": "@babel/core", "version": "7.24.0", "license": "MIT"}',
            ),
            ("app/node_modules/lodash/package.json", '{"name": "lodash", "version": "4.17.21"}'),
            ("app/node_modules/lodash/fp/package.json", '{"name": "not-a-package"}'),
            ("app/node_modules/broken/package.json", "{not json"),
        ]
    )
    inventory = scan_path(write_folder(tmp_path, oci_files([Image(layers=[layer])])))
    found = {(c.name, c.version, c.ecosystem, c.purl) for c in inventory.components}
    assert found == {
        ("django-rest-framework", "3.15.1", "PyPI", "pkg:pypi/django-rest-framework@3.15.1"),
        ("six", "1.16.0", "PyPI", "pkg:pypi/six@1.16.0"),
        ("@babel/core", "7.24.0", "npm", "pkg:npm/%40babel/core@7.24.0"),
        ("lodash", "4.17.21", "npm", "pkg:npm/lodash@4.17.21"),
    }


def test_distroless_status_d(tmp_path):
    layer = layer_tar(
        [
            ("etc/os-release", 'ID=debian\nVERSION_ID="12"\n'),
            (
                "var/lib/dpkg/status.d/base-files",
                "Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n",
            ),
            (
                "var/lib/dpkg/status.d/libssl3",
                "Package: libssl3\nSource: openssl\nVersion: 3.0.11-1~deb12u2\nArchitecture: amd64\n",
            ),
            ("var/lib/dpkg/status.d/libssl3.md5sums", "abc  usr/lib/libssl.so.3\n"),
        ]
    )
    inventory = scan_path(write_folder(tmp_path, oci_files([Image(layers=[layer])])))
    found = {(c.name, c.source_name, c.purl) for c in inventory.components}
    assert found == {
        ("base-files", "base-files", "pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64&distro=debian-12"),
        ("libssl3", "openssl", "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12"),
    }
