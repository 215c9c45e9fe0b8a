"""openstacksdk's image proxy against a running Strata: create with data,
upload, download with checksum verification, filters, patch, members."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import cast

import openstack
import pytest
from openstack import exceptions
from openstack.image.v2._proxy import Proxy as ImageProxy

from tests.e2e.cloud import RunningCloud

pytestmark = pytest.mark.e2e


def connect(
    cloud: RunningCloud, user: str = "admin", password: str | None = None, project: str = "admin"
) -> openstack.connection.Connection:
    return openstack.connect(
        auth_url=cloud.auth_url,
        username=user,
        password=password or cloud.password,
        project_name=project,
        user_domain_name="Default",
        project_domain_name="Default",
        region_name="RegionOne",
        identity_api_version="3",
    )


def images(conn: openstack.connection.Connection) -> ImageProxy:
    """The v2 image proxy (the SDK types `conn.image` as v1 or v2)."""
    return cast(ImageProxy, conn.image)


def test_create_upload_download_and_filter(cloud: RunningCloud, tmp_path: Path) -> None:
    conn = images(connect(cloud))
    data = os.urandom(2 * 1024 * 1024 + 3)
    source = tmp_path / "disk.raw"
    source.write_bytes(data)
    image = conn.create_image(
        "sdk-raw",
        filename=str(source),
        disk_format="raw",
        container_format="bare",
        visibility="private",
        validate_checksum=True,
        allow_duplicates=True,
        tags=["sdk"],
        os_distro="debian",
    )
    fetched = conn.get_image(image.id)
    assert fetched.status == "active"
    assert fetched.size == len(data)
    assert fetched.checksum == hashlib.md5(data).hexdigest()
    assert fetched.hash_algo == "sha512"
    assert fetched.hash_value == hashlib.sha512(data).hexdigest()
    assert fetched.os_distro == "debian"
    out = io.BytesIO()
    conn.download_image(fetched, output=out)  # the SDK verifies the sha512
    assert out.getvalue() == data

    queued = conn.create_image(
        "sdk-empty", disk_format="qcow2", container_format="bare", allow_duplicates=True
    )
    assert queued.status == "queued"
    conn.upload_image(
        container_format="bare", disk_format="qcow2", name="sdk-up", data=b"qcow2-ish bytes"
    )
    names = {i.name for i in conn.images(tag="sdk")}
    assert names == {"sdk-raw"}
    assert {i.name for i in conn.images(status="queued")} >= {"sdk-empty"}
    assert "sdk-raw" not in {i.name for i in conn.images(status="queued")}
    assert [i.name for i in conn.images(name="sdk-raw", visibility="private")] == ["sdk-raw"]
    paged = [i.name for i in conn.images(limit=1, sort_key="name", sort_dir="asc")]
    assert paged == sorted(paged) and {"sdk-raw", "sdk-empty", "sdk-up"} <= set(paged)

    updated = conn.update_image(fetched, name="sdk-renamed", hw_disk_bus="virtio")
    assert updated.name == "sdk-renamed"
    assert conn.get_image(image.id).hw_disk_bus == "virtio"
    conn.add_tag(fetched, "extra")
    assert set(conn.get_image(image.id).tags) == {"sdk", "extra"}
    conn.deactivate_image(fetched)
    assert conn.get_image(image.id).status == "deactivated"
    conn.reactivate_image(fetched)
    again = conn.get_image(image.id).upload(conn, data=b"y")
    assert again.status_code == 409  # data only goes into a queued image
    conn.delete_image(fetched)
    with pytest.raises(exceptions.NotFoundException):
        conn.get_image(image.id)


def test_kernel_and_ramdisk_images_for_direct_boot(cloud: RunningCloud) -> None:
    conn = images(connect(cloud))
    kernel = conn.create_image(
        "sdk-vmlinuz",
        data=b"kernel",
        disk_format="aki",
        container_format="aki",
        allow_duplicates=True,
    )
    ramdisk = conn.create_image(
        "sdk-initrd",
        data=b"initrd",
        disk_format="ari",
        container_format="ari",
        allow_duplicates=True,
    )
    disk = conn.create_image(
        "sdk-rootfs",
        data=b"root",
        disk_format="raw",
        container_format="bare",
        kernel_id=kernel.id,
        ramdisk_id=ramdisk.id,
        allow_duplicates=True,
    )
    shown = conn.get_image(disk.id)
    assert (shown.kernel_id, shown.ramdisk_id) == (kernel.id, ramdisk.id)
    with pytest.raises(exceptions.BadRequestException):
        conn.create_image(
            "sdk-bad",
            disk_format="raw",
            container_format="bare",
            kernel_id="not-a-uuid",
            allow_duplicates=True,
        )
