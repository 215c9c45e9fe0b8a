"""Security groups on the Linux bridge and the OVS driver: what filtering costs.

On the two-host lab of the integration tests (root only), host A runs the
driver measured with PORTS filtered instance ports; it reports the first
pass that plumbs and filters them all, a pass that changes nothing, and
the round trip of a ping from a filtered instance on A to one on host B.

Run: `.venv/bin/python -m tests.bench.bench_sg_drivers [ports]`.
"""

from __future__ import annotations

import contextlib
import json
import re
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.integration.test_network_agent import (
    NET1,
    NETWORK1,
    P2,
    SUB1,
    Lab,
    port,
    sh,
    spec_for,
)
from tests.integration.test_network_agent_ovs import ovs_on_host_a
from workers.network.desired import RuleSpec, SecurityGroupSpec

GROUP = SecurityGroupSpec(
    "sg-1",
    (
        RuleSpec("egress"),
        RuleSpec("ingress", "IPv4", "icmp"),
        RuleSpec("ingress", "IPv4", "tcp", 22),
    ),
)
_RTT = re.compile(r"min/avg/max = [\d.]+/([\d.]+)/")


def _measure(driver: str, count: int, tmp: Path) -> dict[str, Any]:
    lab = Lab(tmp / driver)
    try:
        lab.start()
        with ovs_on_host_a(lab) if driver == "ovs" else contextlib.nullcontext():
            ports = tuple(
                replace(
                    port(
                        f"{i:04x}0000-0000-4000-8000-{i:012x}",
                        NET1,
                        SUB1,
                        f"10.10.0.{100 + i}",
                        "host-a",
                    ),
                    port_security_enabled=True,
                    security_group_ids=("sg-1",),
                )
                for i in range(1, count + 1)
            )
            spec_a = spec_for(
                "host-a", networks=(NETWORK1,), ports=(*ports, P2), security_groups=(GROUP,)
            )
            spec_b = spec_for("host-b", networks=(NETWORK1,), ports=(*ports, P2))
            vms = [lab.instance("a", p, f"10.10.0.{100 + i}/24") for i, p in enumerate(ports, 1)]
            lab.instance("b", P2, "10.10.0.12/24")
            lab.converge("b", spec_b)
            started = time.perf_counter()
            lab.converge("a", spec_a)
            first = time.perf_counter() - started
            idle = []
            for _ in range(5):
                started = time.perf_counter()
                lab.converge("a", spec_a)
                idle.append(time.perf_counter() - started)
            out = sh(
                "ip",
                "netns",
                "exec",
                vms[0],
                "busybox",
                "ping",
                "-c",
                "50",
                "-i",
                "0.02",
                "10.10.0.12",
                check=False,
                timeout=60,
            ).stdout
            match = _RTT.search(out)
            return {
                "ports": count,
                "first_pass_s": round(first, 3),
                "idle_pass_p50_ms": round(statistics.median(idle) * 1000, 1),
                "ping_rtt_avg_ms": float(match.group(1)) if match else None,
            }
    finally:
        lab.cleanup()


def run(count: int = 20) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="strata-bench-sg-") as name:
        return {driver: _measure(driver, count, Path(name)) for driver in ("linuxbridge", "ovs")}


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 20), indent=2))
