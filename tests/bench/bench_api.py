"""A real `strata up`: token issue/validation under load, and its idle memory."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.bench.stats import summary_ms
from tests.e2e.cloud import RunningCloud, start_cloud
from tests.support import auth
from tests.support.auth import password_auth

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def auth_body(cloud: RunningCloud) -> bytes:
    return json.dumps(password_auth(cloud.password)).encode()


def issue_token(cloud: RunningCloud) -> str:
    return auth.issue_token(cloud.auth_url, cloud.password)


def _wrk(label: str, args: list[str], url: str) -> dict[str, Any]:
    """Run wrk and read its requests/s and latency distribution."""
    out = subprocess.run(
        ["wrk", "--latency", *args, url], capture_output=True, text=True, check=True
    ).stdout
    result: dict[str, Any] = {"client": label}
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    result["req_per_s"] = round(float(rate.group(1))) if rate else None
    for mark, key in (("50%", "p50_ms"), ("99%", "p99_ms")):
        match = re.search(rf"{mark}\s+([\d.]+)(us|ms|s)", out)
        result[key] = round(float(match.group(1)) * UNITS[match.group(2)], 3) if match else None
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    result["errors"] = int(non_2xx.group(1)) if non_2xx else 0
    return result


def _threads(call: Any, clients: int, seconds: float) -> dict[str, Any]:
    """Fallback load without wrk: `clients` Python threads calling `call`."""
    samples: list[float] = []
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def loop() -> None:
        mine: list[float] = []
        while time.monotonic() < end:
            started = time.perf_counter()
            call()
            mine.append(time.perf_counter() - started)
        with lock:
            samples.extend(mine)

    threads = [threading.Thread(target=loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    summary = summary_ms(samples)
    return {"client": "python threads", "req_per_s": round(len(samples) / seconds), **summary}


def tokens(workdir: Path, clients: int = 8, seconds: float = 10.0) -> dict[str, Any]:
    cloud = start_cloud(workdir / "tokens-cloud")
    try:
        token = issue_token(cloud)
        url = cloud.auth_url + "/auth/tokens"
        if shutil.which("wrk"):
            script = workdir / "issue.lua"
            body = auth_body(cloud).decode()
            script.write_text(
                'wrk.method = "POST"\n'
                'wrk.headers["Content-Type"] = "application/json"\n'
                f"wrk.body = {json.dumps(body)}\n"
            )
            threads = ["-t", "2", "-c", str(clients), "-d", f"{seconds:.0f}s"]
            label = f"wrk -t2 -c{clients} -d{seconds:.0f}s"
            issue = _wrk(label + " POST /v3/auth/tokens", [*threads, "-s", str(script)], url)
            validate = _wrk(
                label + " GET /v3/auth/tokens",
                [*threads, "-H", f"X-Auth-Token: {token}", "-H", f"X-Subject-Token: {token}"],
                url,
            )
        else:

            def issue_call() -> None:
                issue_token(cloud)

            def validate_call() -> None:
                request = urllib.request.Request(
                    url, headers={"X-Auth-Token": token, "X-Subject-Token": token}
                )
                urllib.request.urlopen(request, timeout=30).close()

            issue = _threads(issue_call, clients, seconds)
            validate = _threads(validate_call, clients, seconds)
    finally:
        cloud.stop()
    return {"clients": clients, "issue": issue, "validate": validate}


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def _descendants(pid: int) -> list[int]:
    """Every process started under `pid` (API workers, the network agent, …)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        parents.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def idle_memory(workdir: Path, settle: float = 10.0) -> dict[str, Any]:
    """Resident memory of `strata up` and its children (SQLite, in-process
    bus) after it settles."""
    cloud = start_cloud(workdir / "idle-cloud")
    try:
        issue_token(cloud)  # touch the hot paths once, as a first user would
        time.sleep(settle)
        main = _rss_mib(cloud.process.pid)
        children = {pid: _rss_mib(pid) for pid in _descendants(cloud.process.pid)}
        return {
            # Every process `strata up` runs: the API workers and agents too.
            "rss_mib": round(main + sum(children.values()), 1),
            "main_process_rss_mib": main,
            "child_processes_rss_mib": sorted(children.values(), reverse=True),
            "settled_s": settle,
        }
    finally:
        cloud.stop()
