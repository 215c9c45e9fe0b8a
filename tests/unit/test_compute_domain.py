"""The server state machine, Nova's status table, flavors and key pairs, pure."""

from __future__ import annotations

import base64
import hashlib

import pytest

from domain.compute import states as s
from domain.compute.flavors import Flavor
from domain.compute.keypairs import ssh_fingerprint
from domain.compute.quotas import ComputeQuota
from domain.compute.servers import Server
from domain.errors import Conflict, InvalidInput


def _server() -> Server:
    return Server(
        project_id="p",
        user_id="u",
        name="vm",
        description=None,
        flavor={"id": "1", "name": "tiny", "vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0},
        image_id="img",
        key_name=None,
        key_data=None,
        user_data=None,
        metadata={},
        availability_zone=None,
        security_groups=["default"],
        tags=["b", "a", "a"],
        reservation_id="r-1",
        launch_index=0,
        config_drive=False,
    )


@pytest.mark.parametrize(
    ("vm_state", "task_state", "status"),
    [
        ("building", "scheduling", "BUILD"),
        ("building", None, "BUILD"),
        ("active", None, "ACTIVE"),
        ("active", "powering-off", "ACTIVE"),
        ("active", "rebooting", "REBOOT"),
        ("active", "rebooting_hard", "HARD_REBOOT"),
        ("stopped", None, "SHUTOFF"),
        ("stopped", "powering-on", "SHUTOFF"),
        ("error", None, "ERROR"),
        ("deleted", None, "DELETED"),
        ("shelved", None, "UNKNOWN"),
    ],
)
def test_status_follows_novas_table(vm_state: str, task_state: str | None, status: str) -> None:
    assert s.server_status(vm_state, task_state) == status


def test_status_filters_map_back_to_vm_states() -> None:
    assert s.vm_states_of("SHUTOFF") == ["stopped"]
    assert s.vm_states_of("HARD_REBOOT") == ["active"]


def test_a_server_goes_build_active_shutoff_and_back() -> None:
    server = _server()
    assert server.status == "BUILD" and server.tags == ["a", "b"]
    server.schedule("node-1", "nova")
    with pytest.raises(Conflict, match=r"Cannot 'stop' instance .* vm_state building"):
        server.stop()
    server.became_active("node-1")
    assert server.status == "ACTIVE" and server.launched_at is not None
    launched = server.launched_at
    server.stop()
    with pytest.raises(Conflict, match="task_state powering-off"):
        server.stop()
    server.stopped()
    assert server.status == "SHUTOFF"
    server.start()
    server.became_active("node-1")
    assert server.launched_at == launched  # launched_at is the first launch
    server.reboot(hard=False)
    assert server.status == "REBOOT"
    server.reboot(hard=True)  # a hard reboot may take over a soft one
    assert server.status == "HARD_REBOOT"
    server.became_active("node-1")
    versions = server.version
    server.became_active("node-1")  # a repeated report is no event
    assert server.version == versions


def test_power_sync_and_failures() -> None:
    server = _server()
    server.became_active("h")
    server.power_state_changed(s.SHUTDOWN)
    assert server.status == "SHUTOFF"
    server.power_state_changed(s.RUNNING)
    assert server.status == "ACTIVE"
    with pytest.raises(InvalidInput):
        server.power_state_changed(42)
    server.fail("boom", details="trace")
    assert server.status == "ERROR" and server.fault is not None
    assert server.fault["message"] == "boom" and server.fault["created"]
    server.delete()
    with pytest.raises(Conflict):
        server.start()


def test_console_output_keeps_the_tail() -> None:
    server = _server()
    server.record_console("x" * 70_000 + "login:")
    assert server.console_output.endswith("login:") and len(server.console_output) == 65536


def test_flavor_rules() -> None:
    flavor = Flavor("1", "tiny", 1, 512, 1, 0, 0, 1.0, False, None)
    with pytest.raises(InvalidInput):
        Flavor("1", "tiny", 0, 512, 1, 0, 0, 1.0, True, None)
    with pytest.raises(InvalidInput):
        Flavor("bad id!", "tiny", 1, 512, 1, 0, 0, 1.0, True, None)
    assert not flavor.usable_by("p", False)
    flavor.add_access("p")
    assert flavor.usable_by("p", False)
    with pytest.raises(Conflict):
        flavor.add_access("p")
    flavor.set_extra_specs({"hw:cpu_policy": "dedicated"})
    assert flavor.snapshot()["extra_specs"] == {"hw:cpu_policy": "dedicated"}
    assert flavor.unset_extra_spec("hw:cpu_policy") and not flavor.unset_extra_spec("nope")


def test_fingerprint_is_md5_of_the_key_blob() -> None:
    blob = b"\x00\x00\x00\x0bssh-ed25519" + bytes(range(32))
    key = "ssh-ed25519 " + base64.b64encode(blob).decode() + " me@host"
    digest = hashlib.md5(blob).hexdigest()
    assert ssh_fingerprint(key) == ":".join(digest[i : i + 2] for i in range(0, 32, 2))
    for bad in ("", "ssh-rsa", "ssh-rsa !!!", "garbage AAAA"):
        with pytest.raises(InvalidInput):
            ssh_fingerprint(bad)


def test_quota_limits() -> None:
    quota = ComputeQuota(project_id="p")
    quota.set_limits({"instances": "3"})
    assert quota.effective()["instances"] == 3 and quota.effective()["cores"] == 20
    with pytest.raises(InvalidInput):
        quota.set_limits({"instances": -2})
    with pytest.raises(InvalidInput):
        quota.set_limits({"bananas": 1})
    quota.reset()
    assert quota.limits == {}
