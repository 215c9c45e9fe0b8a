"""The network API under load: creates/s at 8 clients and first-page list latency."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.bench.bench_api import _wrk, issue_token
from tests.e2e.cloud import RunningCloud, start_cloud


def _call(url: str, token: str, method: str = "GET", body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"X-Auth-Token": token, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def _post_script(folder: Path, name: str, token: str, body: dict[str, Any]) -> Path:
    script = folder / f"{name}.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["X-Auth-Token"] = "{token}"\n'
        f"wrk.body = {json.dumps(json.dumps(body))}\n"
    )
    return script


def _count(base: str, token: str) -> int:
    return len(_call(f"{base}/v2.0/networks?fields=id", token)["networks"])


FILL_BULK = 500  # networks per bulk create while filling
FILL_CLIENTS = 2  # concurrent bulk creates: one can be written while the other is checked


def _fill(base: str, token: str, have: int, total: int) -> int:
    """Create networks until at least `total` exist, by bulk creates through
    the API (`{"networks": [...]}`, one transaction each); returns how many
    exist. `have` is how many existed before."""
    lock = threading.Lock()
    count = [have]

    def client() -> None:
        while True:
            with lock:
                missing = total - count[0]
                if missing <= 0:
                    return
                size = min(FILL_BULK, missing)
                count[0] += size  # claimed before posting, so clients stop on time
            body = {"networks": [{"name": "filler"}] * size}
            _call(f"{base}/v2.0/networks", token, "POST", body)

    threads = [threading.Thread(target=client) for _ in range(FILL_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return count[0]


def _list_latency(base: str, token: str) -> dict[str, Any]:
    return _wrk(
        "wrk -t1 -c1 -d5s GET /v2.0/networks?limit=50",
        ["-t1", "-c1", "-d5s", "-H", f"X-Auth-Token: {token}"],
        f"{base}/v2.0/networks?limit=50",
    )


def _project_id(cloud: RunningCloud, token: str) -> str:
    request = urllib.request.Request(
        cloud.auth_url + "/auth/tokens",
        headers={"X-Auth-Token": token, "X-Subject-Token": token},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(json.loads(response.read())["token"]["project"]["id"])


def _bench(cloud: RunningCloud, folder: Path, sizes: tuple[int, ...]) -> dict[str, Any]:
    token = issue_token(cloud)
    base = f"http://127.0.0.1:{cloud.ports['network']}"
    unlimited = {"network": -1, "subnet": -1, "port": -1}
    _call(f"{base}/v2.0/quotas/{_project_id(cloud, token)}", token, "PUT", {"quota": unlimited})
    network = _call(f"{base}/v2.0/networks", token, "POST", {"network": {"name": "bench"}})
    net_id = network["network"]["id"]
    _call(
        f"{base}/v2.0/subnets",
        token,
        "POST",
        {"subnet": {"network_id": net_id, "cidr": "10.128.0.0/12", "ip_version": 4}},
    )
    threads = ["-t2", "-c8", "-d10s"]
    create_net = _post_script(folder, "net", token, {"network": {"name": "n"}})
    create_port = _post_script(folder, "port", token, {"port": {"network_id": net_id}})
    results: dict[str, Any] = {
        "network_create": _wrk(
            "wrk -t2 -c8 -d10s POST /v2.0/networks",
            [*threads, "-s", str(create_net)],
            f"{base}/v2.0/networks",
        ),
        "port_create": _wrk(
            "wrk -t2 -c8 -d10s POST /v2.0/ports (one /12 subnet)",
            [*threads, "-s", str(create_port)],
            f"{base}/v2.0/ports",
        ),
    }
    have = _count(base, token)
    for size in sizes:
        started = time.perf_counter()
        have = _fill(base, token, have, size)
        filled = round(time.perf_counter() - started, 1)
        results[f"list_first_page_at_{size}"] = {
            "networks": have,
            "filled_in_s": filled,
            "filled_by": f"POST /v2.0/networks bulk of {FILL_BULK}, {FILL_CLIENTS} clients",
            **_list_latency(base, token),
        }
    return results


def run(workdir: Path, pg_dsn: str | None, sizes: tuple[int, ...] = (1000, 10_000, 100_000)) -> Any:
    if not shutil.which("wrk"):
        return {"skipped": "wrk is not installed (apt-get install wrk)"}
    results: dict[str, Any] = {}
    for name, url in (("sqlite", ""), ("postgres", pg_dsn or "")):
        if name == "postgres" and not pg_dsn:
            continue
        folder = workdir / f"network-{name}"
        folder.mkdir(parents=True, exist_ok=True)
        cloud = start_cloud(folder / "cloud", database_url=url)
        try:
            results[name] = _bench(cloud, folder, sizes)
        finally:
            cloud.stop()
    results["port_create_to_active"] = port_to_active(workdir)
    return results


def port_to_active(workdir: Path, ports: int = 30) -> dict[str, Any]:
    """Create-to-ACTIVE of a bound port with real Linux networking: the
    agent (in a namespace standing for the host) plugs the tap that appears
    right after the create, as compute would, and binds the port."""
    import secrets

    from tests.bench.stats import summary_ms
    from workers.network import names
    from workers.network.probe import probe

    found = probe("linuxbridge")
    if found.driver is None:
        return {"skipped": found.reason}
    netns = "bench-" + secrets.token_hex(3)
    subprocess.run(["ip", "netns", "add", netns], check=True)
    cloud = start_cloud(
        workdir / "port-active-cloud",
        extra_env={
            "STRATA_NETWORK_AGENT": "linuxbridge",
            "STRATA_HOST": "bench-host",
            "STRATA_AGENT_NETNS": netns,
            "STRATA_AGENT_NAMESPACE_PREFIX": f"{netns}-",
        },
    )
    samples: list[float] = []
    try:
        token = issue_token(cloud)
        base = f"http://127.0.0.1:{cloud.ports['network']}"
        net = _call(f"{base}/v2.0/networks", token, "POST", {"network": {"name": "active"}})
        net_id = net["network"]["id"]
        _call(
            f"{base}/v2.0/subnets",
            token,
            "POST",
            {"subnet": {"network_id": net_id, "cidr": "10.99.0.0/24", "ip_version": 4}},
        )
        body = {"network_id": net_id, "binding:host_id": "bench-host"}
        body["device_owner"] = "compute:nova"
        for _ in range(ports):
            started = time.perf_counter()
            port = _call(f"{base}/v2.0/ports", token, "POST", {"port": body})["port"]
            tap = names.tap(port["id"])
            subprocess.run(
                ["ip", "-n", netns, "link", "add", tap, "type", "veth", "peer", "name", "p" + tap],
                check=True,
            )
            while _call(f"{base}/v2.0/ports/{port['id']}", token)["port"]["status"] != "ACTIVE":
                time.sleep(0.005)
                if time.perf_counter() - started > 30:
                    raise RuntimeError("a port did not become ACTIVE in 30 s")
            samples.append(time.perf_counter() - started)
    finally:
        cloud.stop()
        listed = subprocess.run(
            ["ip", "netns", "list"], check=False, capture_output=True, text=True
        ).stdout
        for line in listed.splitlines():
            if line.startswith(netns):
                subprocess.run(["ip", "netns", "delete", line.split()[0]], check=False)
    return {"ports": ports, **summary_ms(samples)}
