"""Security group rules: validation and Neutron's defaults, as pure functions."""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

from domain.network.errors import Invalid

# Protocols whose rules may name a port range, by name and by IANA number.
PORT_PROTOCOLS = {"tcp": 6, "udp": 17, "dccp": 33, "sctp": 132, "udplite": 136}
ICMP_PROTOCOLS = {"icmp": 1, "icmpv6": 58, "ipv6-icmp": 58}
OTHER_PROTOCOLS = {
    "ah": 51,
    "egp": 8,
    "esp": 50,
    "gre": 47,
    "igmp": 2,
    "ipip": 4,
    "ospf": 89,
    "pgm": 113,
    "rsvp": 46,
    "vrrp": 112,
    "any": 0,
}
KNOWN = {**PORT_PROTOCOLS, **ICMP_PROTOCOLS, **OTHER_PROTOCOLS}
# Rules are never updated, so the revision_number they show never moves.
RULE_REVISION = 0
RULE_NAMESPACE = uuid.UUID("5d1c8e1e-83f5-4c6b-9d5e-1a2f4ac0b7e3")
MATCH_KEYS = (
    "direction",
    "ethertype",
    "protocol",
    "port_range_min",
    "port_range_max",
    "remote_ip_prefix",
    "remote_group_id",
)


def _protocol(value: Any) -> str | None:
    if value is None or value == "":
        return None
    text = str(value).lower()
    if text in KNOWN:
        return None if text == "any" else text
    if text.isdigit() and 0 <= int(text) <= 255:
        return text
    raise Invalid(
        f"Security group rule protocol {value} not supported.", "SecurityGroupRuleInvalidProtocol"
    )


def _port(value: Any, what: str) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError) as error:
        raise Invalid(f"{what} {value!r} is not an integer.") from error
    return number


def check_rule(fields: dict[str, Any]) -> dict[str, Any]:
    """A rule as stored, or Invalid naming the first problem."""
    direction = fields.get("direction")
    if direction not in ("ingress", "egress"):
        raise Invalid(f"'{direction}' is not in ['ingress', 'egress'].")
    ethertype = fields.get("ethertype") or "IPv4"
    if ethertype not in ("IPv4", "IPv6"):
        raise Invalid(f"'{ethertype}' is not in ['IPv4', 'IPv6'].")
    protocol = _protocol(fields.get("protocol"))
    low = _port(fields.get("port_range_min"), "port_range_min")
    high = _port(fields.get("port_range_max"), "port_range_max")
    numeric = str(KNOWN.get(protocol or "", protocol or ""))
    if (low is not None or high is not None) and protocol is None:
        raise Invalid(
            "Must also specify protocol if port range is given.",
            "SecurityGroupProtocolRequiredWithPorts",
        )
    if protocol in ICMP_PROTOCOLS or numeric in ("1", "58"):
        for value, what in ((low, "type"), (high, "code")):
            if value is not None and not 0 <= value <= 255:
                raise Invalid(
                    f"Invalid value for ICMP {what}: {value}.", "SecurityGroupInvalidIcmpValue"
                )
        if high is not None and low is None:
            raise Invalid(
                "ICMP code (port-range-max) is given without a type.",
                "SecurityGroupMissingIcmpType",
            )
    elif low is not None or high is not None:
        if numeric not in {str(n) for n in PORT_PROTOCOLS.values()}:
            raise Invalid(
                f"Protocol {protocol} does not take a port range.", "SecurityGroupInvalidPortRange"
            )
        low = high if low is None else low
        high = low if high is None else high
        assert low is not None and high is not None
        if not (1 <= low <= 65535 and 1 <= high <= 65535) or low > high:
            raise Invalid(
                "For TCP/UDP protocols, port_range_min must be <= port_range_max.",
                "SecurityGroupInvalidPortRange",
            )
    prefix = fields.get("remote_ip_prefix")
    remote_group = fields.get("remote_group_id")
    if prefix is not None and remote_group is not None:
        raise Invalid(
            "Only remote_ip_prefix or remote_group_id may be provided.",
            "SecurityGroupRemoteGroupAndRemoteIpPrefix",
        )
    if prefix is not None:
        try:
            network = ipaddress.ip_network(str(prefix), strict=False)
        except ValueError as error:
            raise Invalid(f"'{prefix}' is not a valid IP prefix.") from error
        if f"IPv{network.version}" != ethertype:
            raise Invalid(
                f"Conflicting value ethertype {ethertype} for CIDR {prefix}.",
                "SecurityGroupRuleParameterConflict",
            )
        prefix = str(network)
    return {
        "direction": direction,
        "ethertype": ethertype,
        "protocol": protocol,
        "port_range_min": low,
        "port_range_max": high,
        "remote_ip_prefix": prefix,
        "remote_group_id": remote_group,
        "description": str(fields.get("description") or ""),
    }


def same_rule(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a.get(k) == b.get(k) for k in MATCH_KEYS)


def default_rules(group_id: str) -> list[dict[str, Any]]:
    """Neutron's default group: all egress, ingress only from the group itself.

    Rule ids derive from the group id, so creating the group stays pure.
    """
    rules = []
    for index, (direction, ethertype) in enumerate(
        [("egress", "IPv4"), ("egress", "IPv6"), ("ingress", "IPv4"), ("ingress", "IPv6")]
    ):
        rule = check_rule(
            {
                "direction": direction,
                "ethertype": ethertype,
                "remote_group_id": group_id if direction == "ingress" else None,
            }
        )
        rule["id"] = str(uuid.uuid5(RULE_NAMESPACE, f"{group_id}:{index}"))
        rules.append(rule)
    return rules
