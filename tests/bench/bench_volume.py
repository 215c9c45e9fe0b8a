"""Block storage: volume create-to-available p50/p99 through the API and the
storage agent of `strata up` — empty 1 GiB volumes, and clones and volumes
from snapshots of a small and a large source, to show that backing chains
make them cost the same whatever the source holds."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.bench.bench_api import issue_token
from tests.bench.stats import summary_ms
from tests.e2e.cloud import RunningCloud, start_cloud

SAMPLES = 20
POLL = 0.005


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
    return results


if __name__ == "__main__":
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(run(Path(tmp), sys.argv[1] if len(sys.argv) > 1 else None), indent=2))
