"""Compute and images: create-to-ACTIVE on libvirt's test driver (the control
plane's own overhead) and with a real TCG guest, 50 concurrent boots, list
latency, image upload rate."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.bench import tcg
from tests.bench.api_client import Api
from tests.bench.bench_api import _wrk
from tests.bench.stats import percentile, summary_ms
from tests.e2e.cloud import RunningCloud, start_cloud

MIB = 1 << 20


def _setup(api: Api) -> tuple[str, str, str]:
    image = api.call("image", "/v2/images", "POST", {"name": "b", "disk_format": "raw",
                                                     "container_format": "bare"})  # fmt: skip
    api.upload(image["id"], 1, b"\0" * 4096)
    flavor = api.call("compute", "/v2.1/flavors", "POST",
                      {"flavor": {"name": "b.tiny", "vcpus": 1, "ram": 64, "disk": 1}})  # fmt: skip
    net = api.call("network", "/v2.0/networks", "POST", {"network": {"name": "b"}})
    subnet = {"network_id": net["network"]["id"], "cidr": "10.128.0.0/16", "ip_version": 4}
    api.call("network", "/v2.0/subnets", "POST", {"subnet": subnet})
    return image["id"], flavor["flavor"]["id"], net["network"]["id"]


def _server(image: str, flavor: str, net: str, name: str) -> dict[str, Any]:
    body = {"name": name, "imageRef": image, "flavorRef": flavor, "networks": [{"uuid": net}]}
    return {"server": body}


def _until_settled(api: Api, server_id: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = str(api.call("compute", f"/v2.1/servers/{server_id}")["server"]["status"])
        if status in ("ACTIVE", "ERROR") or time.monotonic() > deadline:
            return status
        time.sleep(0.005)


def create_to_active(api: Api, ids: tuple[str, str, str], count: int = 30) -> dict[str, Any]:
    samples: list[float] = []
    for n in range(count):
        started = time.perf_counter()
        created = api.call("compute", "/v2.1/servers", "POST", _server(*ids, f"seq-{n}"))
        if _until_settled(api, created["server"]["id"]) == "ACTIVE":
            samples.append(time.perf_counter() - started)
    return {"servers": count, "active": len(samples), **summary_ms(samples)}


TCG_BOOTS = 5
# Where a TCG boot's time goes, seen from outside the cloud, in the order the
# agent does it: each mark is the first poll (every 20 ms) that saw it.
PHASES = (
    ("scheduled", "the API shows the server on a host"),
    ("overlay", "<instances>/<id>/disk exists (image cached, qcow2 overlay made)"),
    ("seed", "<instances>/<id>/seed.iso exists (the NoCloud seed built)"),
    ("defined", "libvirt knows the domain"),
    ("started", "libvirt launched qemu (the domain counts as active)"),
    ("running", "the guest's CPUs run (libvirt state RUNNING)"),
    ("active", "the API says ACTIVE (the agent reported it, the projection applied it)"),
    ("guest_ready", "the guest's init printed STRATA-GUEST-READY on its serial log"),
)


def _tcg_boot(env: tcg.TcgCloud, name: str) -> dict[str, float]:
    """One boot of the tiny guest: seconds from the POST to each phase."""
    started = time.time()
    body = env.server_body(name)
    server_id = str(env.api.call("compute", "/v2.1/servers", "POST", body)["server"]["id"])
    folder = env.instances / server_id

    def shown() -> dict[str, Any]:
        return dict(env.api.call("compute", f"/v2.1/servers/{server_id}")["server"])

    probes: dict[str, Callable[[], bool]] = {
        "scheduled": lambda: bool(shown().get("OS-EXT-SRV-ATTR:host")),
        "overlay": (folder / "disk").exists,
        "seed": (folder / "seed.iso").exists,
        "defined": lambda: env.domain(server_id) is not None,
        "started": lambda: env.started(server_id),
        "running": lambda: env.running(server_id),
        "active": lambda: shown()["status"] in ("ACTIVE", "ERROR"),
        "guest_ready": lambda: "STRATA-GUEST-READY" in env.console(server_id),
    }
    marks = tcg.marks(started, probes, 300)
    if shown()["status"] != "ACTIVE":
        marks.pop("active", None)
    env.delete(server_id)
    return marks


def tcg_create_to_active(workdir: Path, count: int = TCG_BOOTS) -> dict[str, Any]:
    """A handful of boots of the tiny guest, one at a time (each deleted
    before the next, so no guest competes with the one being measured)."""
    reason = tcg.unavailable()
    if reason is not None:
        print(f"compute: TCG create-to-ACTIVE skipped: {reason}", flush=True)
        return {"skipped": reason}
    runs: list[dict[str, float]] = []
    with tcg.tcg_cloud(workdir, "bench-tcg-node") as env:
        for n in range(count):
            runs.append(_tcg_boot(env, f"tcg-{n}"))
    active = [r["active"] for r in runs if "active" in r]
    phases = {
        phase: round(percentile([r[phase] for r in runs if phase in r], 0.5) * 1000, 1)
        for phase, _ in PHASES
    }
    return {
        "servers": count,
        "active": len(active),
        **summary_ms(active),
        "first_boot_ms": round(runs[0].get("active", float("nan")) * 1000, 1),
        "phases_p50_ms_since_post": phases,
        "phases": dict(PHASES),
        "target": "ACTIVE (domain running) <= 5 s p50",
    }


def concurrent_boots(api: Api, ids: tuple[str, str, str], count: int = 50) -> dict[str, Any]:
    outcomes: list[str] = []
    lock = threading.Lock()

    def boot(n: int) -> None:
        created = api.call("compute", "/v2.1/servers", "POST", _server(*ids, f"burst-{n}"))
        status = _until_settled(api, created["server"]["id"])
        with lock:
            outcomes.append(status)

    started = time.perf_counter()
    threads = [threading.Thread(target=boot, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    hosts = api.call("compute", "/v2.1/os-hypervisors/detail")["hypervisors"]
    overcommitted = [
        h["hypervisor_hostname"] for h in hosts if h["memory_mb_used"] > h["memory_mb"]
    ]
    return {
        "servers": count,
        "active": outcomes.count("ACTIVE"),
        "error": outcomes.count("ERROR"),
        "seconds_to_all_settled": round(time.perf_counter() - started, 2),
        "overcommitted_hosts": overcommitted,
    }


def count_servers(api: Api) -> int:
    """Every server, page by page (Nova caps a page at 1,000)."""
    count, marker = 0, ""
    while True:
        query = "/v2.1/servers?limit=1000" + (f"&marker={marker}" if marker else "")
        page = api.call("compute", query)["servers"]
        count += len(page)
        if len(page) < 1000:
            return count
        marker = page[-1]["id"]


def list_latency(api: Api, cloud: RunningCloud, ids: tuple[str, str, str], total: int) -> Any:
    """First page of `GET /servers/detail` once `total` servers exist."""
    have = count_servers(api)
    if have < total:
        script = cloud.data_dir.parent / "server.lua"
        script.write_text(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f'wrk.headers["X-Auth-Token"] = "{api.token}"\n'
            f"wrk.body = {json.dumps(json.dumps(_server(*ids, 'filler')))}\n"
        )
        while have < total:
            seconds = max(2, min(60, (total - have) // 100 + 1))
            _wrk("fill", ["-t2", "-c8", f"-d{seconds}s", "-s", str(script)],
                 f"{api.url['compute']}/v2.1/servers")  # fmt: skip
            have = count_servers(api)
    page = _wrk(
        "wrk -t1 -c1 -d5s GET /v2.1/servers/detail?limit=50",
        ["-t1", "-c1", "-d5s", "-H", f"X-Auth-Token: {api.token}"],
        f"{api.url['compute']}/v2.1/servers/detail?limit=50",
    )
    return {"servers": have, **page}


def image_upload(api: Api, mib: int = 512) -> dict[str, Any]:
    image = api.call("image", "/v2/images", "POST", {"name": "big", "disk_format": "raw",
                                                     "container_format": "bare"})  # fmt: skip
    started = time.perf_counter()
    api.upload(image["id"], mib, b"\x5a" * MIB)
    seconds = time.perf_counter() - started
    return {"mib": mib, "seconds": round(seconds, 2), "mib_per_s": round(mib / seconds)}


def run(workdir: Path, pg_dsn: str | None) -> dict[str, Any]:
    results: dict[str, Any] = {}
    extra = {"STRATA_COMPUTE_DRIVER": "test", "STRATA_COMPUTE_INTERVAL": "0.5"}
    # 8 GiB of RAM and 64 MiB flavors: 128 servers fit (vCPUs are never the limit).
    extra |= {"STRATA_COMPUTE_VCPUS": "256", "STRATA_COMPUTE_MEMORY_MB": "8192"}
    cloud = start_cloud(workdir / "compute-cloud", extra_env=extra)
    try:
        api = Api(cloud)
        unlimited = {"instances": -1, "cores": -1, "ram": -1}
        project = api.call("identity", "/v3/auth/projects")["projects"][0]["id"]
        api.call("compute", f"/v2.1/os-quota-sets/{project}", "PUT", {"quota_set": unlimited})
        api.call("network", f"/v2.0/quotas/{project}", "PUT", {"quota": {"port": -1}})
        ids = _setup(api)
        results["create_to_active_test_driver"] = create_to_active(api, ids)
        # 30 + 50 of 128 slots: every one of the burst must go ACTIVE.
        results["concurrent_boots_50"] = concurrent_boots(api, ids)
        # 48 slots left for 50 more at once: the two extra end in ERROR ("No
        # valid host"), and no host is ever overcommitted.
        results["concurrent_boots_50_past_capacity"] = concurrent_boots(api, ids)
        results["image_upload"] = image_upload(api)
    finally:
        cloud.stop()
    results["create_to_active_tcg"] = tcg_create_to_active(workdir / "tcg-cloud")
    if shutil.which("wrk"):
        listing = start_cloud(workdir / "list-cloud")  # no agent: servers stay BUILD
        try:
            api = Api(listing)
            project = api.call("identity", "/v3/auth/projects")["projects"][0]["id"]
            api.call("compute", f"/v2.1/os-quota-sets/{project}", "PUT",
                     {"quota_set": {"instances": -1, "cores": -1, "ram": -1}})  # fmt: skip
            api.call("network", f"/v2.0/quotas/{project}", "PUT", {"quota": {"port": -1}})
            ids = _setup(api)
            for total in (1000, 10_000):
                results[f"servers_detail_first_page_at_{total}"] = list_latency(
                    api, listing, ids, total
                )
        finally:
            listing.stop()
    return results
