"""Router namespaces: `qrouter-<id>` with qr- interfaces, a qg- gateway and NAT."""

from __future__ import annotations

from infra.net import namespaces, nftables
from infra.net.links import AF_INET, Links
from infra.net.namespaces import iproute
from workers.network import extra_routes, metadata, names, nat_rules, router_adverts
from workers.network.context import Pass
from workers.network.desired import RouterSpec
from workers.network.plugging import ensure_veth, sync_addresses
from workers.network.topology import gateway_id, with_prefix

METADATA_IP = "169.254.169.254"


def converge(run: Pass) -> None:
    prefix = run.options.namespace_prefix
    for router in run.spec.routers:
        try:
            _converge_router(run, router)
            ns = names.router_namespace(prefix, router.id)
            metadata.ensure_proxy(run, ns, "router", router.id)
        except Exception as exc:
            run.report.failed(router.id, exc)
    wanted = {names.router_namespace(prefix, r.id) for r in run.spec.routers}
    for ns in namespaces.list_namespaces():
        if ns.startswith(prefix + names.ROUTER_NAMESPACE) and ns not in wanted:
            namespaces.delete_namespace(ns)
            run.tables.forget(ns)
            run.report.changed(f"delete namespace {ns}")
    metadata.remove_stale(run)  # proxies of namespaces deleted above or by hand
    router_adverts.remove_stale(run)


def _converge_router(run: Pass, router: RouterSpec) -> None:
    spec = run.spec
    ns = names.router_namespace(run.options.namespace_prefix, router.id)
    if namespaces.ensure_namespace(ns):
        run.report.changed(f"create namespace {ns}")
    if namespaces.ensure_sysctl(ns, "net.ipv4.ip_forward", "1"):
        run.report.changed(f"enable forwarding in {ns}")
    v6 = any((s := spec.subnet(i.subnet_id)) and s.ip_version == 6 for i in router.interfaces)
    if v6 and namespaces.ensure_sysctl(ns, "net.ipv6.conf.all.forwarding", "1"):
        run.report.changed(f"enable IPv6 forwarding in {ns}")
    wanted: dict[str, set[str]] = {}  # device -> addresses
    for iface in router.interfaces:
        subnet = spec.subnet(iface.subnet_id)
        if subnet is None:
            raise LookupError(f"interface subnet {iface.subnet_id} is not in the host spec")
        network = spec.network(subnet.network_id)
        port = spec.port(iface.port_id)
        mac = iface.mac_address or (port.mac_address if port else names.derived_mac(iface.port_id))
        device = names.router_interface(iface.port_id)
        mtu = network.mtu if network else 1450
        ensure_veth(run, names.tap(iface.port_id), device, ns, mac, mtu)
        wanted.setdefault(device, set()).add(with_prefix(spec, iface.subnet_id, iface.ip_address))
    gateway_ip: str | None = None
    if router.external_network_id:
        network = spec.network(router.external_network_id)
        if network is None:
            raise LookupError(f"external network {router.external_network_id} not in host spec")
        device = names.router_gateway(gateway_id(router))
        mac = router.gateway_mac or names.derived_mac(gateway_id(router))
        ensure_veth(run, names.tap(gateway_id(router)), device, ns, mac, network.mtu)
        addresses = {with_prefix(spec, ip.subnet_id, ip.ip_address) for ip in router.external_ips}
        # Floating IPs live on the gateway as /32s so the router answers ARP
        # for them on the external network.
        addresses |= {f"{fip.floating_ip}/32" for fip in router.floating_ips}
        wanted[device] = addresses
        for ip in router.external_ips:
            subnet = spec.subnet(ip.subnet_id)
            if subnet and subnet.gateway_ip and subnet.ip_version == 4 and gateway_ip is None:
                gateway_ip = subnet.gateway_ip
    with iproute(ns) as ipr:
        links = Links(ipr)
        for name in links.all():
            stale = name.startswith((names.ROUTER_INTERFACE, names.ROUTER_GATEWAY))
            if stale and name not in wanted:
                links.delete(name)
                run.report.changed(f"delete {ns}/{name}")
        for device, addresses in wanted.items():
            sync_addresses(run, links, device, addresses, ns)
        _sync_default_route(run, links, ns, gateway_ip)
        extra_routes.converge(run, links, ns, router)
        if not links.has_local_route(METADATA_IP):
            # The metadata proxy listens here; instances reach it through
            # their gateway, i.e. this router.
            links.add_local_route(METADATA_IP)
            run.report.changed(f"add metadata route in {ns}")
    router_adverts.converge(run, ns, router)
    body = nat_rules.render(spec, router)
    if body:
        if run.tables.ensure(ns, [("ip", names.NAT_TABLE, body)]):
            run.report.changed(f"apply NAT table in {ns}")
    elif nftables.table_text(ns, "ip", names.NAT_TABLE) is not None:
        nftables.delete_table(ns, "ip", names.NAT_TABLE)
        run.tables.forget(ns)
        run.report.changed(f"remove NAT table in {ns}")


def _sync_default_route(run: Pass, links: Links, ns: str, gateway_ip: str | None) -> None:
    actual = links.default_gateway(AF_INET)
    if actual == gateway_ip:
        return
    if gateway_ip is None:
        links.del_default_gateway(AF_INET)
        run.report.changed(f"remove default route in {ns}")
    else:
        links.replace_default_gateway(gateway_ip)
        run.report.changed(f"default route via {gateway_ip} in {ns}")
