"""Metadata proxies: one per router namespace and per isolated network's DHCP
namespace, all forwarding to this host's relay (see infra/net/metadata_proxy).

Instances reach 169.254.169.254 through their gateway (a router hosted here)
or, on networks no router serves, through the DHCP port that option 121
names; whichever namespace holds the route runs a proxy that says which
router or network the request came through. The relay, started by the
agent's runtime, signs that identity and forwards it to the metadata API.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from infra.metadata_signing import shared_secret
from infra.net import namespaces
from infra.net.metadata_process import MetadataProcess
from infra.settings import Settings
from workers.network import dhcp_config
from workers.network.context import Pass
from workers.network.desired import HostSpec

METADATA_PORT = 80


def relay_directory(state_dir: Path) -> Path:
    return state_dir / "metadata" / "relay"


def relay_socket(state_dir: Path) -> Path:
    return relay_directory(state_dir) / "sock"


@dataclass(frozen=True)
class Relay:
    """This host's relay: unix socket in, signed requests out to the API."""

    state_dir: Path
    upstream_url: str
    secret: str

    @classmethod
    def for_settings(cls, settings: Settings, state_dir: Path) -> Relay:
        url = settings.metadata_url or settings.public_url("metadata")
        return cls(state_dir, url, shared_secret(settings))

    def ensure(self) -> bool:
        """Running with the current secret and URL; True when (re)started."""
        directory = relay_directory(self.state_dir)
        directory.mkdir(parents=True, exist_ok=True)
        secret_file = directory / "secret"
        process = MetadataProcess(directory)
        if not secret_file.exists() or secret_file.read_text().strip() != self.secret:
            tmp = directory / "secret.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(self.secret + "\n")
            tmp.replace(secret_file)
            process.stop()  # it reads the secret once, at start
        options = ["--socket", str(relay_socket(self.state_dir))]
        options += ["--upstream-url", self.upstream_url, "--secret-file", str(secret_file)]
        options += ["--owner-pid", str(os.getpid())]
        return process.ensure(None, "relay", options)

    def stop(self) -> None:
        MetadataProcess(relay_directory(self.state_dir)).stop()


def _proxy(run: Pass, ns: str) -> MetadataProcess:
    return MetadataProcess(run.options.state_dir / "metadata" / "proxies" / ns)


def ensure_proxy(run: Pass, ns: str, kind: str, resource_id: str) -> None:
    """A proxy in `ns` speaking for the router or network `resource_id`."""
    from workers.network.routers import METADATA_IP  # routers imports this module

    options = [
        "--listen",
        f"{METADATA_IP}:{METADATA_PORT}",
        "--upstream-socket",
        str(relay_socket(run.options.state_dir)),
        "--netns",
        ns,
        f"--{kind}-id",
        resource_id,
    ]
    if _proxy(run, ns).ensure(ns, "proxy", options):
        run.report.changed(f"start metadata proxy in {ns}")


def remove_proxy(run: Pass, ns: str) -> None:
    if _proxy(run, ns).remove():
        run.report.changed(f"stop metadata proxy in {ns}")


def remove_stale(run: Pass) -> None:
    """Stop proxies whose namespace is gone (deleted this pass or by hand)."""
    root = run.options.state_dir / "metadata" / "proxies"
    for directory in sorted(root.iterdir()) if root.is_dir() else ():
        if not namespaces.exists(directory.name):
            remove_proxy(run, directory.name)


def isolated(spec: HostSpec, network_id: str) -> bool:
    """Whether the network's DHCP namespace must serve metadata itself (see
    dhcp_config.metadata_via_dhcp, which routes it there)."""
    return bool(dhcp_config.metadata_via_dhcp(spec, network_id))
