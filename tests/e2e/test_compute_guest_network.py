"""A real guest reached over its tenant network (the stretch of the proof).

`strata up` runs both agents: compute on libvirt (TCG) and networking
(Linux bridge) with its host side in a namespace the test owns. libvirt
creates each guest's tap in the host's own namespace, so the test moves the
tap into the agent's namespace — the one step a real host does not need —
after which the network agent plugs it into the network's bridge, dnsmasq
gives the guest its port's address, a ping from the network's DHCP
namespace reaches it, and the guest reads its own identity from the
metadata service at 169.254.169.254.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from tests.e2e.cloud import RunningCloud, start_cloud
from tests.e2e.test_compute_guest import wait_for
from tests.e2e.test_identity_cli import osc, osc_json
from tests.support.guest import CMDLINE, METADATA_LINE
from tests.support.real_guests import (
    guest_folders,
    missing,
    require_real_guests,
    tiny_guest,
)
from workers.network import names
from workers.network.probe import probe

pytestmark = [pytest.mark.e2e, pytest.mark.root, pytest.mark.libvirt]


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=check)


@pytest.fixture(scope="module")
def netns_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningCloud, str]]:
    require_real_guests()
    found = probe("linuxbridge")
    if found.driver is None:
        missing(f"the network agent cannot run here: {found.reason}")
    netns = f"cg-{uuid.uuid4().hex[:6]}"
    sh("ip", "netns", "add", netns)
    sh("ip", "-n", netns, "link", "set", "lo", "up")
    with guest_folders("instances") as (instances,):
        cloud = start_cloud(
            tmp_path_factory.mktemp("cloud"),
            extra_env={
                "STRATA_HOST": "guest-net-node",
                "STRATA_COMPUTE_DRIVER": "libvirt",
                "STRATA_COMPUTE_INSTANCES_DIR": str(instances),
                "STRATA_COMPUTE_INTERVAL": "0.5",
                "STRATA_NETWORK_AGENT": "linuxbridge",
                "STRATA_AGENT_NETNS": netns,
                "STRATA_AGENT_NAMESPACE_PREFIX": f"{netns}-",
                "STRATA_AGENT_INTERVAL": "2",
            },
        )
        try:
            yield cloud, netns
        finally:
            cloud.stop()
            for line in sh("ip", "netns", "list").stdout.splitlines():
                if line.split(" ")[0].startswith(netns):
                    sh("ip", "netns", "delete", line.split(" ")[0], check=False)


def test_a_real_guest_is_reached_over_its_tenant_network(
    netns_cloud: tuple[RunningCloud, str],
) -> None:
    cloud, netns = netns_cloud
    guest = tiny_guest()
    kernel = osc_json(cloud, "image", "create", "--file", str(guest.kernel), "--disk-format",
                      "aki", "--container-format", "aki", "net-kernel")  # fmt: skip
    ramdisk = osc_json(cloud, "image", "create", "--file", str(guest.initrd), "--disk-format",
                       "ari", "--container-format", "ari", "net-ramdisk")  # fmt: skip
    osc(cloud, "image", "create", "--file", str(guest.disk), "--disk-format", "raw",
        "--container-format", "bare", "--property", f"kernel_id={kernel['id']}",
        "--property", f"ramdisk_id={ramdisk['id']}",
        "--property", f"os_command_line={CMDLINE}", "net-disk")  # fmt: skip
    osc(cloud, "flavor", "create", "--vcpus", "1", "--ram", "256", "--disk", "1", "n.tiny")
    network = osc_json(cloud, "network", "create", "tenant-net")
    osc(cloud, "subnet", "create", "--network", "tenant-net", "--subnet-range", "10.63.0.0/24",
        "tenant-sub")  # fmt: skip
    osc(cloud, "security", "group", "rule", "create", "--protocol", "icmp", "default")
    server = osc_json(cloud, "server", "create", "--flavor", "n.tiny", "--image", "net-disk",
                      "--network", "tenant-net", "--wait", "net-guest")  # fmt: skip
    (port,) = osc_json(cloud, "port", "list", "--device-id", server["id"])
    address = port["Fixed IP Addresses"][0]["ip_address"]
    tap = names.tap(port["ID"])
    # libvirt made the tap on the host; the agent's host side is the namespace.
    wait_for("the guest's tap", lambda: sh("ip", "link", "show", tap, check=False).returncode == 0)
    sh("ip", "link", "set", tap, "netns", netns)
    wait_for(
        "the port ACTIVE",
        lambda: osc_json(cloud, "port", "show", port["ID"])["status"] == "ACTIVE",
        timeout=60,
    )
    log = wait_for(
        "the guest's DHCP lease",
        lambda: (
            "STRATA-LEASE" in (out := osc(cloud, "console", "log", "show", "net-guest").stdout)
            and out
        ),
        timeout=90,
    )
    assert re.search(rf"STRATA-LEASE: {re.escape(address)}\b", log), log[-2000:]
    dhcp = names.dhcp_namespace(f"{netns}-", network["id"])
    ping = ["ip", "netns", "exec", dhcp, "busybox", "ping", "-c", "1", "-W", "1", address]
    try:
        wait_for(f"a ping to {address}", lambda: sh(*ping, check=False).returncode == 0, 30)
    except AssertionError:
        last = sh(*ping, check=False)
        debug = sh("ip", "netns", "list").stdout + sh("ip", "-n", netns, "-br", "link").stdout
        debug += sh("ip", "netns", "exec", dhcp, "ip", "-br", "addr", check=False).stdout
        debug += sh("ip", "netns", "exec", netns, "nft", "list", "ruleset", check=False).stdout
        raise AssertionError(f"{last.stdout}{last.stderr}\n{debug}") from None
    # The guest asked 169.254.169.254 who it is: its route came by DHCP
    # (option 121, via the DHCP port: no router on this subnet), and the
    # DHCP namespace's metadata proxy answered for this very server.
    log = wait_for(
        "the guest's metadata",
        lambda: (
            METADATA_LINE in (out := osc(cloud, "console", "log", "show", "net-guest").stdout)
            and out
        ),
        timeout=90,
    )
    ec2_id = "i-" + uuid.UUID(server["id"]).hex[:8]
    expected = f"{METADATA_LINE}: uuid={server['id']} instance-id={ec2_id}"
    assert expected in log, log[-2000:]
    osc(cloud, "server", "delete", "--wait", "net-guest")
