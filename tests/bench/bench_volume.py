"""Block storage: volume create-to-available p50/p99 through the API and the
storage agent of `strata up` — empty 1 GiB volumes, and clones and volumes
from snapshots of a small and a large source, to show that backing chains
make them cost the same whatever the source holds — and attach p50/p99 to a
running TCG guest (tests/bench/tcg.py) when real libvirt is here."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.bench import tcg
from tests.bench.bench_api import issue_token
from tests.bench.stats import summary_ms
from tests.e2e.cloud import RunningCloud, start_cloud
from tests.support.guest import DISK_ADDED, DISK_REMOVED

SAMPLES = 20
POLL = 0.005
ATTACHES = 10


class Client:
    def __init__(self, cloud: RunningCloud) -> None:
        self.token = issue_token(cloud)
        request = urllib.request.Request(
            cloud.auth_url + "/auth/tokens",
            headers={"X-Auth-Token": self.token, "X-Subject-Token": self.token},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            project = json.loads(response.read())["token"]["project"]["id"]
        self.base = f"http://127.0.0.1:{cloud.ports['block-storage']}/v3/{project}"
        self.call(
            "PUT",
            f"/os-quota-sets/{project}",
            {"quota_set": {"volumes": -1, "gigabytes": -1, "snapshots": -1}},
        )

    def call(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            self.base + path,
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"X-Auth-Token": self.token, "Content-Type": "application/json",
                     "OpenStack-API-Version": "volume 3.60"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b"null")

    def wait(self, kind: str, ident: str) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = self.call("GET", f"/{kind}s/{ident}")[kind]["status"]
            if status == "available":
                return
            if status.startswith("error"):
                raise RuntimeError(f"{kind} {ident} went to {status}")
            time.sleep(POLL)
        raise RuntimeError(f"{kind} {ident} never became available")

    def timed_volume(self, **values: Any) -> tuple[float, str]:
        start = time.perf_counter()
        volume = self.call("POST", "/volumes", {"volume": values})["volume"]
        self.wait("volume", volume["id"])
        return time.perf_counter() - start, str(volume["id"])


def _fill(cloud: RunningCloud, volume_id: str, megabytes: int) -> None:
    """Give a source volume real data (written straight into its file while
    nothing uses it), so a copy would have something to copy."""
    data = cloud.data_dir / "fill.raw"
    with data.open("wb") as out:
        for _ in range(megabytes):
            out.write(os.urandom(1 << 20))
    target = cloud.data_dir / "volumes" / f"volume-{volume_id}.qcow2"
    subprocess.run(
        ["qemu-img", "convert", "-O", "qcow2", str(data), str(target) + ".tmp"], check=True
    )
    subprocess.run(
        ["qemu-img", "resize", "-q", str(target) + ".tmp", "1G" if megabytes < 1024 else "4G"],
        check=True,
    )
    os.replace(str(target) + ".tmp", target)
    data.unlink()


def _bench(cloud: RunningCloud) -> dict[str, Any]:
    client = Client(cloud)
    empty = [client.timed_volume(size=1)[0] for _ in range(SAMPLES)]
    results: dict[str, Any] = {"empty_1GiB": summary_ms(empty)}
    for label, megabytes, size in (("16MiB_data", 16, 1), ("512MiB_data", 512, 4)):
        _, source = client.timed_volume(size=size)
        _fill(cloud, source, megabytes)
        clones = [client.timed_volume(source_volid=source)[0] for _ in range(SAMPLES // 2)]
        snap = client.call("POST", "/snapshots", {"snapshot": {"volume_id": source}})["snapshot"]
        client.wait("snapshot", snap["id"])
        children = [client.timed_volume(snapshot_id=snap["id"])[0] for _ in range(SAMPLES // 2)]
        results[f"clone_of_{size}GiB_{label}"] = summary_ms(clones)
        results[f"from_snapshot_of_{size}GiB_{label}"] = summary_ms(children)
    return results


def _attach_cycle(
    env: tcg.TcgCloud, client: Client, server_id: str, volume_id: str
) -> tuple[float, ...]:
    """Seconds from the attach call to each of: the volume `in-use`, its disk
    in the running domain, the guest printing it; then from the detach call
    to the volume `available` again with the disk gone from guest and domain
    (so the next cycle starts from a guest without it)."""
    path = f"/v2.1/servers/{server_id}/os-volume_attachments"
    added = env.console(server_id).count(f"{DISK_ADDED}: ")
    removed = env.console(server_id).count(f"{DISK_REMOVED}: ")

    def status() -> str:
        found = str(client.call("GET", f"/volumes/{volume_id}")["volume"]["status"])
        if found.startswith("error"):
            raise RuntimeError(f"volume {volume_id} went to {found}")
        return found

    started = time.time()
    env.api.call("compute", path, "POST", {"volumeAttachment": {"volumeId": volume_id}})
    attached = tcg.marks(
        started,
        {
            "in_use": lambda: status() == "in-use",
            "visible": lambda: volume_id in env.live_serials(server_id),
            "guest": lambda: env.console(server_id).count(f"{DISK_ADDED}: ") > added,
        },
        120,
    )
    started = time.time()
    env.api.call("compute", f"{path}/{volume_id}", "DELETE")
    detached = tcg.marks(
        started,
        {
            "available": lambda: status() == "available",
            "unplugged": lambda: volume_id not in env.live_serials(server_id),
            "guest": lambda: env.console(server_id).count(f"{DISK_REMOVED}: ") > removed,
        },
        120,
    )
    if len(attached) < 3 or len(detached) < 3:
        raise RuntimeError(f"attach {attached} or detach {detached} never finished")
    return (
        max(attached["in_use"], attached["visible"]),
        attached["in_use"],
        attached["visible"],
        attached["guest"],
        max(detached.values()),
    )


def attach_to_running_guest(workdir: Path, count: int = ATTACHES) -> dict[str, Any]:
    """Attach (API call to the volume `in-use` and its disk in the running
    domain) to a booted TCG guest, `count` times, one volume re-attached."""
    reason = tcg.unavailable()
    if reason is not None:
        print(f"volume: attach to a TCG guest skipped: {reason}", flush=True)
        return {"skipped": reason}
    with tcg.tcg_cloud(workdir, "bench-volume-node") as env:
        server_id = env.boot("attach-target")
        client = Client(env.cloud)
        _, volume_id = client.timed_volume(size=1)
        cycles = [_attach_cycle(env, client, server_id, volume_id) for _ in range(count)]
        env.delete(server_id)
    names = ("attach", "to_in_use", "to_disk_in_domain", "to_guest_prints_disk",
             "detach_until_gone_everywhere")  # fmt: skip
    return {
        **{name: summary_ms([cycle[i] for cycle in cycles]) for i, name in enumerate(names)},
        "target": "attach to a running TCG guest <= 2 s p50",
    }


def run(workdir: Path, pg_dsn: str | None) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, url in (("sqlite", ""), ("postgres", pg_dsn or "")):
        if name == "postgres" and not pg_dsn:
            continue
        folder = workdir / f"volume-{name}"
        folder.mkdir(parents=True, exist_ok=True)
        # Only the storage agent matters here; the compute agent stays out of the way.
        cloud = start_cloud(
            folder / "cloud", database_url=url, extra_env={"STRATA_COMPUTE_DRIVER": "off"}
        )
        try:
            results[name] = _bench(cloud)
        finally:
            cloud.stop()
    results["attach_tcg"] = attach_to_running_guest(workdir / "volume-tcg" / "cloud")
    return results


if __name__ == "__main__":
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(run(Path(tmp), sys.argv[1] if len(sys.argv) > 1 else None), indent=2))
