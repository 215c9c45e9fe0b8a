"""Links, addresses, FDB entries and routes of one namespace, over pyroute2.

A `Links` wraps one open IPRoute socket; open it with
`with iproute(ns) as ipr: links = Links(ipr)`. Methods take interface names
because names are what the agent derives from resource ids.
"""

from __future__ import annotations

import builtins
import errno
import ipaddress
from dataclasses import dataclass
from typing import Any

from pyroute2 import NetlinkError  # type: ignore[import-untyped]

ZERO_MAC = "00:00:00:00:00:00"
AF_INET = 2
AF_INET6 = 10
LOCAL_TABLE = 255
MAIN_TABLE = 254
# Routes the agent installs carry this protocol, so it can tell them from
# the kernel's (proto kernel) and the default route it manages apart.
RTPROT_STATIC = 4
IFA_F_NODAD = 0x02
ADDR_GEN_MODE_NONE = 1  # IN6_ADDR_GEN_MODE_NONE


@dataclass(frozen=True)
class Link:
    name: str
    index: int
    kind: str | None  # "bridge", "vxlan", "veth", "tun", None for plain devices
    master: int | None
    mac: str
    mtu: int
    up: bool
    vni: int | None = None
    local: str | None = None


class Links:
    def __init__(self, ipr: Any) -> None:
        self._ipr = ipr

    # -- links -------------------------------------------------------------
    def all(self) -> dict[str, Link]:
        found: dict[str, Link] = {}
        for msg in self._ipr.get_links():
            kind = msg.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND")
            data = msg.get_nested("IFLA_LINKINFO", "IFLA_INFO_DATA") or {}
            vxlan = dict(data.get("attrs", [])) if kind == "vxlan" else {}
            name = msg.get("ifname")
            found[name] = Link(
                name=name,
                index=msg["index"],
                kind=kind,
                master=msg.get("master"),
                mac=msg.get("address") or "",
                mtu=msg.get("mtu") or 0,
                up=bool(msg["flags"] & 1),
                vni=vxlan.get("IFLA_VXLAN_ID"),
                local=vxlan.get("IFLA_VXLAN_LOCAL"),
            )
        return found

    def index(self, name: str) -> int | None:
        found = self._ipr.link_lookup(ifname=name)
        return found[0] if found else None

    def _index(self, name: str) -> int:
        index = self.index(name)
        if index is None:
            raise LookupError(f"no link {name}")
        return index

    def add_bridge(self, name: str, mtu: int, mac: str) -> None:
        # No STP and no forwarding delay: a tenant bridge has no loops (VXLAN
        # floods only to peers, never back), and a 15 s learning delay would
        # swallow the first DHCP requests of a booting instance.
        self._ipr.link("add", ifname=name, kind="bridge", br_stp_state=0, br_forward_delay=0)
        self.no_ipv6_addresses(name)
        # A bridge without an address of its own takes the lowest of its
        # ports', changing whenever a port comes or goes; a fixed one keeps
        # neighbours' caches valid.
        self.set(name, address=mac, mtu=mtu, state="up")

    def add_vxlan(self, name: str, vni: int, local: str, mtu: int) -> None:
        # nolearning: remote MACs are reached through the static all-zero
        # FDB entries (head-end replication to every peer), so no entry can
        # be poisoned by a forged inner source address.
        self._ipr.link(
            "add",
            ifname=name,
            kind="vxlan",
            vxlan_id=vni,
            vxlan_local=local,
            vxlan_port=4789,
            vxlan_learning=0,
        )
        self.no_ipv6_addresses(name)
        self.set(name, mtu=mtu, state="up")

    def add_veth(self, name: str, peer: str) -> None:
        self._ipr.link("add", ifname=name, kind="veth", peer={"ifname": peer})
        self.no_ipv6_addresses(name)

    def no_ipv6_addresses(self, name: str) -> None:
        """Keep the kernel from giving `name` an IPv6 link-local address.

        Without one the host sends no router solicitations or MLD reports
        into tenant networks through its bridges and ports. Takes effect
        when the link next comes up, so call it before setting it up.
        """
        inet6 = {"attrs": [("IFLA_INET6_ADDR_GEN_MODE", ADDR_GEN_MODE_NONE)]}
        self._ipr.link(
            "set", index=self._index(name), IFLA_AF_SPEC={"attrs": [("AF_INET6", inet6)]}
        )

    def move(self, name: str, namespace: str) -> None:
        self._ipr.link("set", index=self._index(name), net_ns_fd=namespace)

    def set(self, name: str, **attrs: Any) -> None:
        """Set link attributes: master=<bridge name or 0>, state, mtu, address."""
        master = attrs.pop("master", None)
        if master is not None:
            attrs["master"] = master if isinstance(master, int) else self._index(master)
        try:
            self._ipr.link("set", index=self._index(name), **attrs)
        except NetlinkError as exc:
            if exc.code == errno.ENODEV:  # vanished since the lookup
                raise LookupError(f"no link {name}") from exc
            raise

    def delete(self, name: str) -> None:
        index = self.index(name)
        if index is not None:
            self._ipr.link("del", index=index)

    # -- addresses ---------------------------------------------------------
    def addresses(self, name: str) -> builtins.set[str]:
        """Global addresses on `name` as "ip/prefixlen" (link-local skipped)."""
        index = self._index(name)
        found: builtins.set[str] = builtins.set()
        for msg in self._ipr.get_addr(index=index):
            ip = msg.get("IFA_ADDRESS")
            if ipaddress.ip_address(ip).is_link_local:
                continue
            found.add(f"{ip}/{msg['prefixlen']}")
        return found

    def add_address(self, name: str, cidr: str) -> None:
        iface = ipaddress.ip_interface(cidr)
        self._ipr.addr(
            "add", index=self._index(name), address=str(iface.ip), prefixlen=iface.network.prefixlen
        )

    def del_address(self, name: str, cidr: str) -> None:
        iface = ipaddress.ip_interface(cidr)
        self._ipr.addr(
            "del", index=self._index(name), address=str(iface.ip), prefixlen=iface.network.prefixlen
        )

    # -- flood entries of a VXLAN device -----------------------------------
    def flood_peers(self, name: str) -> builtins.set[str]:
        index = self._index(name)
        return {
            msg.get("NDA_DST")
            for msg in self._ipr.fdb("dump", ifindex=index)
            if msg.get("NDA_LLADDR") == ZERO_MAC and msg.get("NDA_DST")
        }

    def add_flood_peer(self, name: str, peer: str) -> None:
        self._ipr.fdb("append", ifindex=self._index(name), lladdr=ZERO_MAC, dst=peer)

    def del_flood_peer(self, name: str, peer: str) -> None:
        self._ipr.fdb("del", ifindex=self._index(name), lladdr=ZERO_MAC, dst=peer)

    # -- routes ------------------------------------------------------------
    def default_gateway(self, family: int = AF_INET) -> str | None:
        for msg in self._ipr.get_routes(family=family, table=254):
            if msg["dst_len"] == 0 and msg.get("RTA_GATEWAY"):
                gateway: str = msg.get("RTA_GATEWAY")
                return gateway
        return None

    def replace_default_gateway(self, gateway: str) -> None:
        family = AF_INET6 if ipaddress.ip_address(gateway).version == 6 else AF_INET
        dst = "::/0" if family == AF_INET6 else "0.0.0.0/0"
        self._ipr.route("replace", dst=dst, gateway=gateway, family=family)

    def del_default_gateway(self, family: int = AF_INET) -> None:
        dst = "::/0" if family == AF_INET6 else "0.0.0.0/0"
        self._ipr.route("del", dst=dst, family=family)

    def static_routes(self, family: int) -> dict[str, builtins.set[str]]:
        """Routes this module added (`add_static_route`): destination -> nexthops."""
        found: dict[str, builtins.set[str]] = {}
        for msg in self._ipr.get_routes(family=family, table=MAIN_TABLE):
            if msg["proto"] != RTPROT_STATIC or msg["dst_len"] == 0:
                continue
            destination = f"{msg.get('RTA_DST')}/{msg['dst_len']}"
            hops = [msg.get("RTA_GATEWAY")]
            hops += [hop.get("RTA_GATEWAY") for hop in msg.get("RTA_MULTIPATH") or ()]
            found.setdefault(destination, builtins.set()).update(h for h in hops if h)
        return found

    def replace_static_route(self, destination: str, nexthops: builtins.set[str]) -> None:
        """One route to `destination`, spread over `nexthops` (ECMP) when several."""
        family = AF_INET6 if ipaddress.ip_network(destination).version == 6 else AF_INET
        hops = sorted(nexthops)
        via: dict[str, Any] = (
            {"gateway": hops[0]}
            if len(hops) == 1
            else {"multipath": [{"gateway": hop} for hop in hops]}
        )
        self._ipr.route(
            "replace", dst=destination, family=family, proto=RTPROT_STATIC, table=MAIN_TABLE, **via
        )

    def del_static_route(self, destination: str) -> None:
        family = AF_INET6 if ipaddress.ip_network(destination).version == 6 else AF_INET
        self._ipr.route(
            "del", dst=destination, family=family, proto=RTPROT_STATIC, table=MAIN_TABLE
        )

    def link_local(self, name: str) -> builtins.set[str]:
        """IPv6 link-local addresses on `name` as "ip/prefixlen"."""
        return {
            f"{msg.get('IFA_ADDRESS')}/{msg['prefixlen']}"
            for msg in self._ipr.get_addr(index=self._index(name), family=AF_INET6)
            if ipaddress.ip_address(msg.get("IFA_ADDRESS")).is_link_local
        }

    def add_address_now(self, name: str, cidr: str) -> None:
        """Add an address usable at once: no duplicate address detection.

        For addresses derived from a MAC we own (link-local): DAD would only
        delay them by a second, during which the kernel refuses to send from them.
        """
        iface = ipaddress.ip_interface(cidr)
        self._ipr.addr(
            "add",
            index=self._index(name),
            address=str(iface.ip),
            prefixlen=iface.network.prefixlen,
            flags=IFA_F_NODAD,
        )

    def has_local_route(self, ip: str) -> bool:
        return any(
            msg.get("RTA_DST") == ip and msg["dst_len"] == 32
            for msg in self._ipr.get_routes(family=AF_INET, table=LOCAL_TABLE)
        )

    def add_local_route(self, ip: str, device: str = "lo") -> None:
        self._ipr.route(
            "add",
            dst=f"{ip}/32",
            type="local",
            table=LOCAL_TABLE,
            oif=self._index(device),
            scope=254,  # host: a local route is reachable from this machine only
        )
