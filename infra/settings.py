"""Every setting Strata reads, from `STRATA_*` environment variables.

This is the only module that reads the environment, so that what a process
does is decided in one place and a test can build a `Settings` by hand.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

SERVICE_PORTS: dict[str, int] = {
    "identity": 5000,
    "compute": 8774,
    "network": 9696,
    "block-storage": 8776,
    "image": 9292,
    "events": 8790,
    "metadata": 8775,  # Nova's metadata API, reached by instances through the proxies
}


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path(".strata-data")
    # `sqlite:///path/to/file` or a PostgreSQL URL/conninfo; empty means a
    # SQLite file inside data_dir (the embedded profile).
    database_url: str = ""
    # Empty: an in-process bus, or a `nats-server` found on PATH when
    # `start_nats` is set. Otherwise the URL of a JetStream-enabled server.
    nats_url: str = ""
    start_nats: bool = True
    bind_host: str = "127.0.0.1"
    public_host: str = "127.0.0.1"
    ports: Mapping[str, int] = field(default_factory=lambda: dict(SERVICE_PORTS))
    region: str = "RegionOne"
    token_ttl_seconds: int = 3600
    keys_dir: Path | None = None
    images_dir: Path | None = None  # image data; empty: <data_dir>/images
    volumes_dir: Path | None = None  # this storage host's volume files; empty: <data_dir>/volumes
    admin_password: str = ""
    stream_name: str = "STRATA"
    event_source: str = "strata"
    # How long a write waits for its projections before answering anyway.
    read_your_writes_timeout: float = 5.0
    catch_up_interval: float = 1.0
    # API processes on this host (0: one per CPU, at most 4). One process serves
    # about one core's worth of requests; the others share its ports.
    api_workers: int = 0
    # This host's name for bindings and placement.
    host: str = field(default_factory=socket.gethostname)
    # The network agent: "auto" (real networking when the process may),
    # "linuxbridge", "ovs" (both: required) or "off".
    network_agent: str = "auto"
    agent_local_ip: str = "127.0.0.1"  # this host's VXLAN endpoint
    agent_peers: tuple[str, ...] = ()  # the other hosts' endpoints
    agent_external_interface: str = ""  # host link plugged into external networks
    # Run the host side of networking in this named namespace (tests; "" = real host).
    agent_netns: str = ""
    agent_namespace_prefix: str = ""
    agent_interval: float = 30.0  # full reconcile period
    # The compute agent: "auto" (real libvirt when libvirtd and qemu answer,
    # else libvirt's built-in test driver), "libvirt", "test" or "off".
    compute_driver: str = "auto"
    compute_libvirt_uri: str = "qemu:///system"
    # KVM only when asked: /dev/kvm can exist on hosts where it cannot boot a
    # stock kernel (nested virtualisation), so TCG is the safe default.
    compute_kvm: bool = False
    compute_instances_dir: Path | None = None  # empty: <data_dir>/instances
    # Inventory overrides (0: measured from the machine).
    compute_vcpus: int = 0
    compute_memory_mb: int = 0
    compute_disk_gb: int = 0
    compute_interval: float = 5.0  # full reconcile (and console refresh) period
    compute_step_timeout: float = 300.0  # one server's convergence, then ERROR
    compute_shutdown_timeout: float = 30.0  # graceful stop before a hard one
    # "auto": KVM when a probe guest boots under it (infra/virt/kvm_probe.py),
    # else TCG; "kvm" or "tcg" force one (STRATA_COMPUTE_KVM=true means "kvm").
    compute_accel: str = "auto"
    # Cached base images no server of this host uses are removed once unused
    # this long (Nova's remove_unused_original_minimum_age_seconds; negative:
    # never), looked for every compute_image_cache_interval seconds.
    compute_image_cache_min_age: float = 86400.0
    compute_image_cache_interval: float = 2400.0
    # The metadata service: the secret its proxies sign instance identities
    # with (empty: one made once and kept in <data_dir>/metadata-secret, which
    # suits one host; give every host the same value in production), the URL
    # agents forward to (empty: public_url("metadata")) and the domain Nova
    # appends to hostnames (its [api] dhcp_domain).
    metadata_secret: str = ""
    metadata_url: str = ""
    metadata_dhcp_domain: str = "novalocal"

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql://")) or (
            "dbname=" in self.database_url
        )

    @property
    def sqlite_path(self) -> Path:
        if self.database_url.startswith("sqlite:///"):
            return Path(self.database_url.removeprefix("sqlite:///"))
        return self.data_dir / "strata.sqlite3"

    @property
    def fernet_keys_dir(self) -> Path:
        return self.keys_dir or self.data_dir / "fernet-keys"

    @property
    def api_process_count(self) -> int:
        if self.api_workers > 0:
            return self.api_workers
        return max(1, min(os.cpu_count() or 1, 4))

    def public_url(self, service: str) -> str:
        return f"http://{self.public_host}:{self.ports[service]}"

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    ports = dict(SERVICE_PORTS)
    for service in SERVICE_PORTS:
        key = "STRATA_" + service.upper().replace("-", "_") + "_PORT"
        if key in env:
            ports[service] = int(env[key])
    keys_dir = env.get("STRATA_KEYS_DIR")
    return Settings(
        data_dir=Path(env.get("STRATA_DATA_DIR", ".strata-data")),
        database_url=env.get("STRATA_DATABASE_URL", ""),
        nats_url=env.get("STRATA_NATS_URL", ""),
        start_nats=_flag(env.get("STRATA_START_NATS", "true")),
        bind_host=env.get("STRATA_BIND_HOST", "127.0.0.1"),
        public_host=env.get("STRATA_PUBLIC_HOST", "127.0.0.1"),
        ports=ports,
        region=env.get("STRATA_REGION", "RegionOne"),
        token_ttl_seconds=int(env.get("STRATA_TOKEN_TTL", "3600")),
        keys_dir=Path(keys_dir) if keys_dir else None,
        images_dir=Path(env["STRATA_IMAGES_DIR"]) if env.get("STRATA_IMAGES_DIR") else None,
        volumes_dir=Path(env["STRATA_VOLUMES_DIR"]) if env.get("STRATA_VOLUMES_DIR") else None,
        admin_password=env.get("STRATA_ADMIN_PASSWORD", ""),
        stream_name=env.get("STRATA_STREAM", "STRATA"),
        read_your_writes_timeout=float(env.get("STRATA_READ_YOUR_WRITES_TIMEOUT", "5")),
        catch_up_interval=float(env.get("STRATA_CATCH_UP_INTERVAL", "1")),
        api_workers=int(env.get("STRATA_API_WORKERS", "0")),
        host=env.get("STRATA_HOST") or socket.gethostname(),
        network_agent=env.get("STRATA_NETWORK_AGENT", "auto"),
        agent_local_ip=env.get("STRATA_AGENT_LOCAL_IP", "127.0.0.1"),
        agent_peers=tuple(p for p in env.get("STRATA_AGENT_PEERS", "").split(",") if p),
        agent_external_interface=env.get("STRATA_AGENT_EXTERNAL_INTERFACE", ""),
        agent_netns=env.get("STRATA_AGENT_NETNS", ""),
        agent_namespace_prefix=env.get("STRATA_AGENT_NAMESPACE_PREFIX", ""),
        agent_interval=float(env.get("STRATA_AGENT_INTERVAL", "30")),
        compute_driver=env.get("STRATA_COMPUTE_DRIVER", "auto"),
        compute_libvirt_uri=env.get("STRATA_COMPUTE_LIBVIRT_URI", "qemu:///system"),
        compute_kvm=_flag(env.get("STRATA_COMPUTE_KVM", "false")),
        compute_instances_dir=(
            Path(env["STRATA_COMPUTE_INSTANCES_DIR"])
            if env.get("STRATA_COMPUTE_INSTANCES_DIR")
            else None
        ),
        compute_vcpus=int(env.get("STRATA_COMPUTE_VCPUS", "0")),
        compute_memory_mb=int(env.get("STRATA_COMPUTE_MEMORY_MB", "0")),
        compute_disk_gb=int(env.get("STRATA_COMPUTE_DISK_GB", "0")),
        compute_interval=float(env.get("STRATA_COMPUTE_INTERVAL", "5")),
        compute_step_timeout=float(env.get("STRATA_COMPUTE_STEP_TIMEOUT", "300")),
        compute_shutdown_timeout=float(env.get("STRATA_COMPUTE_SHUTDOWN_TIMEOUT", "30")),
        compute_accel=env.get("STRATA_COMPUTE_ACCEL", "auto"),
        compute_image_cache_min_age=float(env.get("STRATA_COMPUTE_IMAGE_CACHE_MIN_AGE", "86400")),
        compute_image_cache_interval=float(env.get("STRATA_COMPUTE_IMAGE_CACHE_INTERVAL", "2400")),
        metadata_secret=env.get("STRATA_METADATA_SECRET", ""),
        metadata_url=env.get("STRATA_METADATA_URL", ""),
        metadata_dhcp_domain=env.get("STRATA_METADATA_DHCP_DOMAIN", "novalocal"),
    )
