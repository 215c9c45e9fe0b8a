"""The NoCloud seed a guest's cloud-init reads its identity from.

An ISO 9660 volume labelled `cidata` holding `meta-data`, `user-data` and
`network-config` (cloud-init's NoCloud datasource): it works without the
metadata service and without any network, which is what a first boot needs
to find its network. Made with whichever ISO tool the host has.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

LABEL = "cidata"
ISO_TOOLS = (("genisoimage", ()), ("mkisofs", ()), ("xorriso", ("-as", "mkisofs")))


class SeedError(RuntimeError):
    pass


@dataclass(frozen=True)
class SeedData:
    instance_id: str
    hostname: str
    public_keys: tuple[str, ...] = ()
    user_data: bytes | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    macs: tuple[str, ...] = ()  # one NIC per port, in the server's order


def render_seed(data: SeedData) -> dict[str, bytes]:
    """The seed's files. JSON is valid YAML, so no YAML library is needed."""
    meta = {
        "instance-id": data.instance_id,
        "local-hostname": data.hostname,
        "public-keys": list(data.public_keys),
        "meta": data.metadata,
    }
    # Network config v1 by MAC: the guest's interface names are its own affair.
    config = [
        {
            "type": "physical",
            "name": f"eth{index}",
            "mac_address": mac,
            "subnets": [{"type": "dhcp"}],
        }
        for index, mac in enumerate(data.macs)
    ]
    network = {"version": 1, "config": config}
    user_data = data.user_data if data.user_data is not None else b"#cloud-config\n{}\n"
    return {
        "meta-data": (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode(),
        "user-data": user_data,
        "network-config": (json.dumps(network, indent=2) + "\n").encode(),
    }


def find_iso_tool() -> list[str] | None:
    for name, extra in ISO_TOOLS:
        path = shutil.which(name)
        if path:
            return [path, *extra]
    return None


def write_seed(files: dict[str, bytes], dest: Path, tool: list[str] | None) -> None:
    """Build the ISO next to `dest` and rename it into place, so a crash never
    leaves a half-written seed that a later pass would trust."""
    if tool is None:
        raise SeedError("no ISO tool on this host (install genisoimage or xorriso)")
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        for name, content in files.items():
            (root / name).write_bytes(content)
        part = Path(tmp) / "seed.iso"
        args = [*tool, "-quiet", "-o", str(part), "-V", LABEL, "-J", "-r", str(root)]
        try:
            done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
        except subprocess.TimeoutExpired as error:
            raise SeedError("building the seed ISO timed out") from error
        if done.returncode != 0:
            raise SeedError(f"building the seed ISO failed: {done.stderr.strip()[-500:]}")
        os.replace(part, dest)
