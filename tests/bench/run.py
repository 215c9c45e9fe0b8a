"""`make bench`: measure Strata on this machine and write bench-results.json.

Benchmarks measure; they never pass or fail. Each result sits next to its
target so a reader sees at once where Strata stands. PostgreSQL is the
running one (or a throwaway one, as in the tests); every PostgreSQL
benchmark gets its own fresh database.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infra.settings import Settings
from tests.bench import (
    bench_api,
    bench_audit,
    bench_compute,
    bench_log,
    bench_network,
    bench_sg_drivers,
    bench_snapshot,
    bench_volume,
)
from tests.support.services import database_name, drop_database, fresh_database, postgres_dsn

TARGETS = {
    "tokens.validate.req_per_s": ">= 3000 at 8 clients",
    "appends.postgres.events_per_s": ">= 2000",
    "relay_lag.postgres.p99_ms": "<= 50",
    "replay.sqlite.events_per_s": ">= 50000",
    "replay.postgres.events_per_s": ">= 50000",
    "idle_memory.rss_mib": "< 300",
    "network.*.network_create.req_per_s": ">= 500 at 8 clients",
    "network.*.port_create.req_per_s": ">= 300 at 8 clients",
    "network.*.list_first_page_at_10000.p50_ms": "<= 10",
    "network.port_create_to_active.p50_ms": "<= 200 with real Linux networking",
    "volume.*.empty_1gib.p50_ms": "<= 300",
    "compute.create_to_active_test_driver.p50_ms": "<= 100",
    "compute.create_to_active_tcg.p50_ms": "<= 5000 (domain running)",
    "volume.attach_tcg.attach.p50_ms": "<= 2000",
    "compute.concurrent_boots_50": "all ACTIVE, none overcommitted",
    "compute.concurrent_boots_50_past_capacity": "2 past capacity in ERROR, none overcommitted",
    "compute.servers_detail_first_page_at_10000.p50_ms": "<= 15",
    "compute.image_upload.mib_per_s": ">= 200, flat memory",
    "volume.*.clone: constant in size": "backing chains",
}


def _with_postgres(admin: str, run: Callable[[Settings], dict[str, Any]], tmp: Path) -> Any:
    dsn = fresh_database(admin, "strata_bench")
    try:
        return run(Settings(data_dir=tmp, database_url=dsn))
    finally:
        drop_database(admin, database_name(dsn))


def _with_database(admin: str, tmp: Path, run: Callable[[Path, str], Any]) -> Any:
    dsn = fresh_database(admin, "strata_bench")
    try:
        return run(tmp, dsn)
    finally:
        drop_database(admin, database_name(dsn))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", default="bench-results.json")
    parser.add_argument("--only", nargs="*", default=[], help="run only these benchmarks")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    admin = postgres_dsn()
    with tempfile.TemporaryDirectory(prefix="strata-bench-") as tmp_name:
        tmp = Path(tmp_name)

        def sqlite(name: str) -> Settings:
            folder = tmp / name
            folder.mkdir()
            return Settings(data_dir=folder)

        benches: dict[str, Callable[[], Any]] = {
            "appends": lambda: {
                "sqlite": bench_log.appends(sqlite("appends")),
                "postgres": _with_postgres(admin, bench_log.appends, tmp),
            },
            "replay": lambda: {
                "sqlite": bench_log.replay(sqlite("replay")),
                "postgres": _with_postgres(admin, bench_log.replay, tmp),
            },
            "relay_lag": lambda: {
                "sqlite": bench_log.relay_lag(sqlite("relay"), tmp / "nats-sqlite"),
                "postgres": _with_postgres(
                    admin, lambda s: bench_log.relay_lag(s, tmp / "nats-pg"), tmp
                ),
            },
            "tokens": lambda: bench_api.tokens(tmp),
            "idle_memory": lambda: bench_api.idle_memory(tmp),
            "audit": lambda: _with_database(admin, tmp / "audit", bench_audit.run),
            "network": lambda: _with_database(admin, tmp, bench_network.run),
            "volume": lambda: _with_database(admin, tmp / "volume", bench_volume.run),
            "compute": lambda: bench_compute.run(tmp / "compute", None),
            "snapshot": lambda: bench_snapshot.run(tmp / "snapshot"),
            "sg_drivers": bench_sg_drivers.run,
        }
        for name, bench in benches.items():
            if args.only and name not in args.only:
                continue
            print(f"bench {name} ...", flush=True)
            started = time.perf_counter()
            results[name] = bench()
            print(json.dumps(results[name], indent=2), flush=True)
            print(f"bench {name} took {time.perf_counter() - started:.1f}s", flush=True)
    report = {
        "command": "make bench  (" + " ".join([sys.executable, "-m", "tests.bench.run"]) + ")",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "targets": TARGETS,
        "results": results,
    }
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
