"""Network resources' rules: revisions, statuses, routers, rules, quotas."""

from __future__ import annotations

import uuid

import pytest

from domain.errors import Conflict, InvalidInput
from domain.network.errors import PreconditionFailed
from domain.network.ports import Port
from domain.network.quotas import QuotaSet
from domain.network.routers import Router
from domain.network.rules import check_rule, default_rules
from domain.network.security_groups import SecurityGroup, default_group_id


def port(**overrides: object) -> Port:
    fields: dict[str, object] = dict(
        id=uuid.uuid4(),
        network_id="n",
        project_id="p",
        name="",
        description="",
        admin_state_up=True,
        mac_address="fa:16:3e:00:00:01",
        fixed_ips=[],
        device_id="",
        device_owner="",
        security_groups=[],
        allowed_address_pairs=[],
        port_security_enabled=True,
        binding_host_id="",
        tags=[],
    )
    fields.update(overrides)
    return Port(**fields)  # type: ignore[arg-type]


def test_port_status_follows_the_agent_and_revisions_count_changes() -> None:
    p = port()
    assert (p.status, p.revision_number) == ("DOWN", 1)
    p.bind("host-1", "bridge")
    assert (p.status, p.binding_host_id, p.revision_number) == ("ACTIVE", "host-1", 2)
    p.bind("host-1", "bridge")  # nothing new: no event
    assert p.revision_number == 2
    p.report_status("ERROR", "tap missing")
    assert (p.status, p.status_reason) == ("ERROR", "tap missing")
    with pytest.raises(InvalidInput):
        p.report_status("SIDEWAYS")
    with pytest.raises(PreconditionFailed):
        p.update(expected_revision=1, name="x")
    p.update(expected_revision=3, name="x")
    p.update(binding_host_id="")
    assert (p.status, p.binding_vif_type) == ("DOWN", "unbound")
    p.delete()
    with pytest.raises(Conflict):
        p.update(name="y")


def test_port_security_needs_port_security_enabled() -> None:
    with pytest.raises(InvalidInput):
        Port.check_security(False, ["g"], [])
    assert Port.check_address_pairs([{"ip_address": "10.0.0.0/24"}]) == [
        {"ip_address": "10.0.0.0/24"}
    ]
    with pytest.raises(InvalidInput):
        Port.check_address_pairs([{"ip_address": "nope"}])
    with pytest.raises(InvalidInput):
        port(tags=["a/b"])


def test_router_interfaces_are_unique_per_subnet_and_block_deletion() -> None:
    r = Router(project_id="p", name="r", description="", admin_state_up=True, tags=[])
    r.add_interface("port-1", "sub-1")
    with pytest.raises(InvalidInput):
        r.add_interface("port-2", "sub-1")
    assert r.port_on("sub-1") == "port-1"
    with pytest.raises(Conflict):
        r.delete()
    r.remove_interface("port-1")
    r.report_status("ERROR", "namespace failed")
    assert r.status == "ERROR"
    r.delete()


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        (
            {"direction": "ingress", "protocol": "tcp", "port_range_min": 90, "port_range_max": 80},
            "SecurityGroupInvalidPortRange",
        ),
        (
            {"direction": "ingress", "protocol": "tcp", "port_range_min": 0},
            "SecurityGroupInvalidPortRange",
        ),
        ({"direction": "ingress", "port_range_min": 22}, "SecurityGroupProtocolRequiredWithPorts"),
        ({"direction": "up"}, "InvalidInput"),
        ({"direction": "ingress", "ethertype": "IPv5"}, "InvalidInput"),
        ({"direction": "ingress", "protocol": "teapot"}, "SecurityGroupRuleInvalidProtocol"),
        (
            {"direction": "ingress", "protocol": "icmp", "port_range_min": 300},
            "SecurityGroupInvalidIcmpValue",
        ),
        (
            {"direction": "ingress", "remote_ip_prefix": "fd00::/8"},
            "SecurityGroupRuleParameterConflict",
        ),
        (
            {"direction": "ingress", "remote_ip_prefix": "10.0.0.0/8", "remote_group_id": "g"},
            "SecurityGroupRemoteGroupAndRemoteIpPrefix",
        ),
    ],
)
def test_bad_rules(fields: dict[str, object], kind: str) -> None:
    with pytest.raises(InvalidInput) as error:
        check_rule(fields)
    assert getattr(error.value, "type_name", "") == kind


def test_rules_normalise_and_the_default_group() -> None:
    rule = check_rule(
        {
            "direction": "ingress",
            "protocol": "TCP",
            "port_range_min": 22,
            "remote_ip_prefix": "10.1.2.3/8",
        }
    )
    assert (rule["protocol"], rule["port_range_max"], rule["remote_ip_prefix"]) == (
        "tcp",
        22,
        "10.0.0.0/8",
    )
    group = SecurityGroup.default_for("p")
    assert group.id == default_group_id("p") and group.is_default
    assert sorted(r["direction"] for r in group.rules.values()) == [
        "egress",
        "egress",
        "ingress",
        "ingress",
    ]
    assert [r["id"] for r in default_rules(str(group.id))] == list(group.rules)
    with pytest.raises(Conflict):
        group.add_rule("r1", {"direction": "egress", "ethertype": "IPv4"})
    group.add_rule("r2", {"direction": "ingress", "protocol": "icmp"})
    group.remove_rule("r2")
    with pytest.raises(Conflict):
        group.update(name="other")
    with pytest.raises(Conflict):
        group.delete_by(is_admin=False)
    group.delete_by(is_admin=True)


def test_quota_limits() -> None:
    quotas = QuotaSet(project_id="p")
    quotas.set_limits({"network": 3, "port": "7"})
    assert quotas.effective()["network"] == 3 and quotas.effective()["port"] == 7
    bad_limits: list[dict[str, object]] = [
        {"network": -2},
        {"network": "many"},
        {"widget": 1},
        {"network": True},
    ]
    for bad in bad_limits:
        with pytest.raises(InvalidInput):
            quotas.set_limits(bad)
    quotas.reset()
    assert quotas.effective()["network"] == 100
