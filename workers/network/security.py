"""Apply the host's security group tables (see sg_rules for their design).

Both L2 drivers put every instance tap on a Linux bridge (the network's,
or with OVS the port's own, see hybrid), so one set of tables serves both.
"""

from __future__ import annotations

from infra.net import nftables
from workers.network import names, sg_rules
from workers.network.context import Pass

_SYSCTLS = ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables")


def converge(run: Pass) -> None:
    ns = run.options.host_netns
    try:
        rendered = sg_rules.render(run.spec, port_bridges=run.options.driver == "ovs")
        if rendered is None:
            for family in ("bridge", "inet"):
                if nftables.table_text(ns, family, names.SG_TABLE) is not None:
                    nftables.delete_table(ns, family, names.SG_TABLE)
                    run.report.changed(f"remove {family} {names.SG_TABLE}")
            run.tables.forget(ns)
            return
        for key in _SYSCTLS:
            # br_netfilter hands bridged packets to the inet hooks only when
            # asked to, per namespace.
            if run.tables.ensure_sysctl(ns, key, "1"):
                run.report.changed(f"set {key}=1")
        bridge_body, inet_body = rendered
        tables = [("bridge", names.SG_TABLE, bridge_body), ("inet", names.SG_TABLE, inet_body)]
        if run.tables.ensure(ns, tables):
            run.report.changed("apply security group tables")
    except Exception as exc:
        # One ruleset covers every port, so its failure is every port's.
        for fp in sg_rules.filtered_ports(run.spec):
            run.report.failed(fp.port.id, exc)
