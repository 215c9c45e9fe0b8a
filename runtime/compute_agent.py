"""Run this host's compute agent inside a Strata process, wired to the cloud.

Chooses the driver (real libvirt with TCG or KVM, libvirt's test driver, or
none, and says why; KVM only when a probe guest really runs under it),
registers the host with its inventory, then converges whenever something
that concerns compute hosts happens and on a timer (the full reconcile).

What wakes it (workers/compute/wakeups.py): with NATS, a durable JetStream
consumer named for the host, whose messages are acked once the pass they
woke completed, so a restarted agent gets what it missed or did not
finish; without NATS (the embedded profile's in-process bus), the change
markers of the compute and volume read models. Either way a message is
only a wake-up: the pass reads the desired state from the read models
(brought first to the position of the newest message it covers), which
stay the source of truth. Agent outcomes become the commands of
commands/compute/agent.py.
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
from infra.virt.kvm_probe import KVM_DEVICE, Verdict, probe_kvm
from projections.compute.host_state import compute_host_state
from projections.image.queries import ImageQueries
from projections.volume.host_state import compute_volume_state
from workers.compute.agent import AgentOptions, ComputeAgent
from workers.compute.disks import Disks
from workers.compute.inventory import measure, with_overrides
from workers.compute.reporter import CommandReporter
from workers.compute.wakeups import JetStreamWakeups, MarkerWakeups, Wakeups

if TYPE_CHECKING:  # runtime.cloud wires every service; the agent needs none of it
    from runtime.cloud import Cloud

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DriverChoice:
    uri: str | None  # None: no agent
    domain_type: str
    description: str
    reason: str = ""  # why this accelerator (shown on the hypervisor)

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
        domain_type, reason = choose_accel(settings)  # the reason names the accelerator
        return DriverChoice(uri, domain_type, f"libvirt {uri}, {reason}", reason)
    if wanted == "libvirt":
        raise RuntimeError(f"compute driver 'libvirt' cannot run here: {problem}")
    return DriverChoice(TEST_URI, "test", f"libvirt {TEST_URI} (no real guests: {problem})")


def choose_accel(settings: Settings, probe: Callable[[], Verdict] = probe_kvm) -> tuple[str, str]:
    """("kvm" or "qemu", why): KVM when forced, or when the probe passes."""
    wanted = "kvm" if settings.compute_kvm else settings.compute_accel
    if wanted == "tcg":
        return "qemu", "TCG forced (STRATA_COMPUTE_ACCEL=tcg)"
    if wanted == "kvm":
        if not os.access(KVM_DEVICE, os.R_OK | os.W_OK):
            raise RuntimeError(f"KVM is forced but {KVM_DEVICE} is not usable")
        return "kvm", "KVM forced (STRATA_COMPUTE_ACCEL=kvm), not probed"
    if wanted != "auto":
        raise RuntimeError(f"STRATA_COMPUTE_ACCEL={wanted!r}: use auto, kvm or tcg")
    verdict = probe()
    if verdict.works:
        return "kvm", f"KVM probed: {verdict.reason}"
    return "qemu", f"TCG, KVM unusable: {verdict.reason}"


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
        hypervisor_driver_reason=choice.reason,
        host_ip=settings.agent_local_ip,
    )
    cloud.bus.dispatch(register, SYSTEM_CONTEXT)
    images = ImageQueries(cloud.db)
    options = AgentOptions(
        domain_type=choice.domain_type,
        host=settings.host,
        step_timeout=settings.compute_step_timeout,
        shutdown_timeout=settings.compute_shutdown_timeout,
        image_cache_min_age=settings.compute_image_cache_min_age,
        image_cache_interval=settings.compute_image_cache_interval,
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


def start_compute_agent(cloud: Cloud, nats_url: str | None = None) -> RunningComputeAgent:
    """Start the agent's threads, or explain why it does not run.

    `nats_url`: the JetStream server the relay publishes to (`strata up`'s
    private one); default STRATA_NATS_URL, and none means the in-process bus.
    """
    choice = choose_driver(cloud.settings)
    if choice.uri is None:
        return RunningComputeAgent(None, f"not running: {choice.description}", lambda: None)
    agent = build_agent(cloud, choice)
    settings = cloud.settings
    wakeups = wakeups_for(cloud, settings.nats_url if nats_url is None else nats_url)
    wakeups.start()
    stopping = threading.Event()

    def run() -> None:
        while not stopping.is_set():
            batch = wakeups.take()  # before the pass: a wake-up during it triggers another
            try:
                if batch.position:
                    reach(cloud, batch.position)
                agent.converge(host_state(cloud, settings.host))
            except Exception:  # the whole pass (read models, libvirtd): next round
                log.exception("compute agent pass failed")
            else:
                wakeups.done(batch)
            wakeups.wait(settings.compute_interval)

    thread = threading.Thread(target=run, name="compute-agent", daemon=True)
    thread.start()

    def stop() -> None:
        stopping.set()
        wakeups.poke()
        thread.join(timeout=10)
        wakeups.stop()
        agent.close()

    description = f"{choice.description} on host {settings.host}; woken by {wakeups.description}"
    log.info("compute agent: %s", description)
    return RunningComputeAgent(agent, description, stop, wakeups.poke)


def wakeups_for(cloud: Cloud, nats_url: str) -> Wakeups:
    settings = cloud.settings
    if nats_url:
        return JetStreamWakeups(nats_url, settings.stream_name, settings.host)
    # Volume attachments (hot-plug, unplug) are block storage changes.
    return MarkerWakeups(
        lambda: (cloud.runner.changed_position("compute"), cloud.runner.changed_position("volume"))
    )


def reach(cloud: Cloud, position: int) -> None:
    """Bring the read models to `position` (a message may be ahead of this
    process's projections), but never past the log's head: a stream that
    outlived its database must not make the agent wait for ever."""
    cloud.runner.wait_for(min(position, cloud.store.max_notification_id()))
