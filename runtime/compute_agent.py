"""Run this host's compute agent inside a Strata process, wired to the cloud.

Chooses the driver (real libvirt with TCG or KVM, libvirt's test driver, or
none, and says why), registers the host with its inventory, then converges
on every change of the compute read model and on a timer. Agent outcomes
become the commands of commands/compute/agent.py.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from commands.compute.agent import RegisterHost
from commands.context import SYSTEM_CONTEXT
from infra.settings import Settings
from infra.virt import qemu_img, seed
from infra.virt.hypervisor import TEST_URI, Hypervisor, HypervisorError, libvirt_available
from projections.compute.host_state import compute_host_state
from projections.image.queries import ImageQueries
from projections.volume.host_state import compute_volume_state
from workers.compute.agent import AgentOptions, ComputeAgent
from workers.compute.disks import Disks
from workers.compute.inventory import measure, with_overrides
from workers.compute.reporter import CommandReporter

if TYPE_CHECKING:  # runtime.cloud wires every service; the agent needs none of it
    from runtime.cloud import Cloud

log = logging.getLogger(__name__)

WATCH_INTERVAL = 0.05  # how often the compute read model's change marker is read


@dataclass(frozen=True)
class DriverChoice:
    uri: str | None  # None: no agent
    domain_type: str
    description: str

    @property
    def label(self) -> str:
        """What `openstack hypervisor show` reports as strata:driver."""
        return "libvirt-test" if self.domain_type == "test" else f"libvirt+{self.domain_type}"


def choose_driver(settings: Settings) -> DriverChoice:
    wanted = settings.compute_driver
    if wanted == "off":
        return DriverChoice(None, "", "off (STRATA_COMPUTE_DRIVER=off)")
    if wanted not in ("auto", "libvirt", "test"):
        raise RuntimeError(f"STRATA_COMPUTE_DRIVER={wanted!r}: use auto, libvirt, test or off")
    if not libvirt_available():
        why = "libvirt-python is not installed (pip install 'strata[libvirt]')"
        if wanted != "auto":
            raise RuntimeError(f"compute driver {wanted!r} cannot run here: {why}")
        return DriverChoice(None, "", f"off: {why}")
    if wanted == "test":
        return DriverChoice(TEST_URI, "test", f"libvirt {TEST_URI} (no real guests)")
    uri = settings.compute_libvirt_uri
    problem = _real_libvirt_problem(uri)
    if problem is None:
        if settings.compute_kvm:
            if not os.access("/dev/kvm", os.R_OK | os.W_OK):
                raise RuntimeError("STRATA_COMPUTE_KVM is set but /dev/kvm is not usable")
            return DriverChoice(uri, "kvm", f"libvirt {uri}, KVM")
        return DriverChoice(uri, "qemu", f"libvirt {uri}, TCG (STRATA_COMPUTE_KVM=true for KVM)")
    if wanted == "libvirt":
        raise RuntimeError(f"compute driver 'libvirt' cannot run here: {problem}")
    return DriverChoice(TEST_URI, "test", f"libvirt {TEST_URI} (no real guests: {problem})")


def _real_libvirt_problem(uri: str) -> str | None:
    for tool in ("qemu-system-x86_64", "qemu-img"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    probe = Hypervisor(uri)
    try:
        probe.facts()
    except HypervisorError as error:
        return str(error)
    finally:
        probe.close()
    return None


def build_agent(cloud: Cloud, choice: DriverChoice) -> ComputeAgent:
    """The agent for `choice` (a driver that runs), with its host registered."""
    assert choice.uri is not None
    settings = cloud.settings
    hypervisor = Hypervisor(choice.uri)
    test = choice.domain_type == "test"
    instances = settings.compute_instances_dir or settings.data_dir / "instances"
    disks = Disks(
        instances,
        settings.images_dir or settings.data_dir / "images",
        qemu_img.find_qemu_img(),
        seed.find_iso_tool(),
        placeholders=test,  # the test driver reads no disk
    )
    found = with_overrides(
        measure(instances),
        settings.compute_vcpus,
        settings.compute_memory_mb,
        settings.compute_disk_gb,
    )
    facts = hypervisor.facts()
    register = RegisterHost(
        hostname=settings.host,
        vcpus=found.vcpus,
        memory_mb=found.memory_mb,
        disk_gb=found.disk_gb,
        hypervisor_type="test" if test else "QEMU",
        hypervisor_version=facts.hypervisor_version,
        hypervisor_driver=choice.label,
        host_ip=settings.agent_local_ip,
    )
    cloud.bus.dispatch(register, SYSTEM_CONTEXT)
    images = ImageQueries(cloud.db)
    options = AgentOptions(
        domain_type=choice.domain_type,
        host=settings.host,
        step_timeout=settings.compute_step_timeout,
        shutdown_timeout=settings.compute_shutdown_timeout,
    )
    reporter = CommandReporter(cloud.bus, settings.host)
    return ComputeAgent(hypervisor, disks, images.get, reporter, options, volume_reporter=reporter)


def host_state(cloud: Cloud, host: str) -> dict[str, Any]:
    """The servers of this host and their volume attachments, in one state."""
    state = compute_host_state(cloud.db, host)
    state["attachments"] = compute_volume_state(cloud.db, host)["attachments"]
    return state


@dataclass
class RunningComputeAgent:
    agent: ComputeAgent | None
    description: str
    stop: Callable[[], None]
    poke: Callable[[], None] = lambda: None


def start_compute_agent(cloud: Cloud) -> RunningComputeAgent:
    """Start the agent's threads, or explain why it does not run."""
    choice = choose_driver(cloud.settings)
    if choice.uri is None:
        return RunningComputeAgent(None, f"not running: {choice.description}", lambda: None)
    agent = build_agent(cloud, choice)
    settings = cloud.settings
    wake, stopping = threading.Event(), threading.Event()

    def run() -> None:
        while not stopping.is_set():
            wake.clear()  # before the pass: a change during it triggers another
            try:
                agent.converge(host_state(cloud, settings.host))
            except Exception:  # the whole pass (read models, libvirtd): next round
                log.exception("compute agent pass failed")
            wake.wait(settings.compute_interval)

    def watch() -> None:
        # Volume attachments (hot-plug, unplug) are block storage changes.
        seen = (cloud.runner.changed_position("compute"), cloud.runner.changed_position("volume"))
        while not stopping.wait(WATCH_INTERVAL):
            now = (
                cloud.runner.changed_position("compute"),
                cloud.runner.changed_position("volume"),
            )
            if now != seen:
                seen = now
                wake.set()

    threads = [
        threading.Thread(target=run, name="compute-agent", daemon=True),
        threading.Thread(target=watch, name="compute-agent-watch", daemon=True),
    ]
    for thread in threads:
        thread.start()

    def stop() -> None:
        stopping.set()
        wake.set()
        for thread in threads:
            thread.join(timeout=10)
        agent.close()

    description = f"{choice.description} on host {settings.host}"
    return RunningComputeAgent(agent, description, stop, wake.set)
