"""The compute agent's convergence: one pass compares the servers assigned
to this host with libvirt's domains and the disks on the host, and fixes
every difference.

Each server is worked on in a thread of its own, at most one job per server
at a time, so a slow image copy or a guest that ignores its shutdown request
holds up nothing else. A job that runs past `step_timeout` is reported as a
failure (the server goes to ERROR with the step it was stuck in) — nothing
waits in BUILD forever. Outcomes go to a Reporter, which the composition
root turns into commands; the agent never writes read models.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from domain.compute import states as s
from domain.volume import states as vs
from infra.image_store import DataFacts, ImageStore
from infra.virt.domain_xml import (
    disk_targets,
    domain_name,
    render_domain,
    render_volume_disk,
    server_of,
)
from infra.virt.hypervisor import RUNNING, SHUTDOWN, Hypervisor, HypervisorError
from workers.compute import plan
from workers.compute.disks import Disks
from workers.compute.image_cache import ImageCache
from workers.compute.snapshot import Snapshots, take_snapshot

log = logging.getLogger(__name__)


class Reporter(Protocol):
    def active(self, server_id: str) -> None: ...
    def stopped(self, server_id: str) -> None: ...
    def failed(self, server_id: str, reason: str, details: str) -> None: ...
    def power(self, server_id: str, power_state: int) -> None: ...
    def console(self, server_id: str, output: str) -> None: ...
    # Snapshots to an image (workers/compute/snapshot.py says what each means).
    def snapshot_uploading(self, server_id: str, image_id: str) -> bool: ...
    def snapshot_taken(self, server_id: str, image_id: str, facts: DataFacts) -> bool: ...
    def snapshot_failed(self, server_id: str, image_id: str, reason: str) -> None: ...


class VolumeReporter(Protocol):
    def volume_attached(self, volume_id: str, attachment_id: str, mountpoint: str) -> None: ...
    def volume_detached(self, volume_id: str, attachment_id: str) -> None: ...
    def attach_failed(self, volume_id: str, attachment_id: str, reason: str) -> None: ...
    def detach_failed(self, volume_id: str, attachment_id: str, reason: str) -> None: ...


@dataclass(frozen=True)
class AgentOptions:
    domain_type: str  # "qemu" (TCG), "kvm" or "test"
    host: str = ""  # written into each domain: see domain_xml.METADATA_NS
    step_timeout: float = 300.0
    shutdown_timeout: float = 30.0
    # How long a guest may take to release an unplugged volume's disk.
    detach_timeout: float = 60.0
    workers: int = 4
    # The base-image cache (workers/compute/image_cache.py); negative: kept for ever.
    image_cache_min_age: float = 86400.0
    image_cache_interval: float = 2400.0


@dataclass
class _Job:
    future: Future[None]
    started: float
    step: str = "queued"
    # Someone waits on this server (BUILD, or a task): a failure must end
    # in ERROR. Otherwise (a steady server, a removal) it is only logged, so
    # a libvirtd restart cannot put every running server into ERROR.
    pending: bool = True
    timed_out: bool = False
    # The image a snapshot step writes: its failure ends the snapshot, not
    # the server (Nova never puts a server in ERROR for a failed snapshot).
    snapshot: str | None = None


class ComputeAgent:
    def __init__(
        self,
        hypervisor: Hypervisor,
        disks: Disks,
        images: plan.ImageLookup,
        reporter: Reporter,
        options: AgentOptions,
        clock: Callable[[], float] = time.monotonic,
        volume_reporter: VolumeReporter | None = None,
    ) -> None:
        self.hv = hypervisor
        self.disks = disks
        self.images = images
        self.reporter = reporter
        self.options = options
        self.clock = clock
        self.volume_reporter = volume_reporter
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()
        self._console_seen: dict[str, float] = {}
        self._detach_started: dict[str, float] = {}  # attachment id -> first unplug
        self._pool = ThreadPoolExecutor(options.workers, thread_name_prefix="compute-job")
        store = ImageStore(disks.images_dir)
        self.snapshots = Snapshots(disks, store, options.step_timeout)
        self.image_cache = ImageCache(
            disks, options.image_cache_min_age, options.image_cache_interval, clock
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- the pass ---------------------------------------------------------------
    def converge(self, state: dict[str, Any]) -> None:
        """`state`: compute_host_state, plus "attachments" (compute_volume_state's)
        when volumes are to be converged too; without that key the disks
        of volumes are left as they are."""
        servers = {str(d["id"]): d for d in state["servers"]}
        volumes: dict[str, list[dict[str, Any]]] | None = None
        if "attachments" in state and self.volume_reporter is not None:
            volumes = {server_id: [] for server_id in servers}
            for attachment in state["attachments"]:
                volumes.setdefault(str(attachment["server_id"]), []).append(attachment)
        domains = self.hv.domains(self.options.host)
        with self._lock:
            idle = not self._jobs  # no job copies or reads a cached image now
        self.image_cache.tick(servers.values(), domains, idle)
        for server_id, server in servers.items():
            pending = server["vm_state"] == s.BUILDING or server["task_state"] is not None
            wanted = None if volumes is None else volumes[server_id]
            self._submit(server_id, functools.partial(self._server, server, wanted), pending)
        self._expire()
        # Whatever carries our prefix but no server owns: a deleted server, or
        # debris of a crash. Its disks go with it.
        for name, domain in domains.items():
            owner = server_of(name)
            if owner is not None and owner not in servers:
                self._submit(owner, functools.partial(self._remove, owner, domain), False)
        for server_id in self.disks.instance_ids() - set(servers):
            if domain_name(server_id) not in domains:
                self._submit(server_id, functools.partial(self._remove, server_id, None), False)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Until every job finished (tests, and a clean stop)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._jobs:
                    return
            time.sleep(0.01)

    def _submit(self, server_id: str, work: Callable[[], None], pending: bool) -> None:
        with self._lock:
            if server_id in self._jobs:
                return  # one job per server at a time; the next pass catches up
            job = _Job(Future(), self.clock(), pending=pending)
            self._jobs[server_id] = job

        def run() -> None:
            try:
                work()
            except Exception as error:
                self._failed(server_id, job, error)
            finally:
                with self._lock:
                    self._jobs.pop(server_id, None)

        job.future = self._pool.submit(run)

    def _step(self, server_id: str, step: str) -> None:
        with self._lock:
            job = self._jobs.get(server_id)
        if job is not None:
            job.step = step

    def _expire(self) -> None:
        now = self.clock()
        with self._lock:
            late = [
                (sid, job)
                for sid, job in self._jobs.items()
                if job.pending
                and not job.timed_out
                and now - job.started > self.options.step_timeout
            ]
            for _, job in late:
                job.timed_out = True
        for server_id, job in late:
            reason = f"Timed out after {self.options.step_timeout:.0f}s while {job.step}"
            log.warning("server %s: %s", server_id, reason)
            if job.snapshot is not None:
                self.reporter.snapshot_failed(server_id, job.snapshot, reason)
                continue
            self.reporter.failed(server_id, reason, "")

    def _failed(self, server_id: str, job: _Job, error: Exception) -> None:
        log.warning("server %s: %s failed: %s", server_id, job.step, error)
        if job.snapshot is not None and not job.timed_out:
            reason = f"Failed while {job.step}: {error}"
            self.reporter.snapshot_failed(server_id, job.snapshot, reason[:255])
        elif job.pending and not job.timed_out:  # a timeout was reported already
            self.reporter.failed(server_id, f"Failed while {job.step}: {error}"[:255], repr(error))

    # -- one server ---------------------------------------------------------------
    def _server(self, server: dict[str, Any], volumes: list[dict[str, Any]] | None) -> None:
        """Power first, then volumes (in the same job: one job per server at
        a time, so a hot-plug never races the domain's definition)."""
        domain = self._server_power(server)
        if domain is not None and volumes is not None:
            self._volumes(str(server["id"]), domain, volumes)
        if domain is not None and server.get("snapshot_image_id"):
            self._snapshot(str(server["id"]), str(server["snapshot_image_id"]))

    def _snapshot(self, server_id: str, image_id: str) -> None:
        with self._lock:
            job = self._jobs.get(server_id)
            if job is not None:
                job.snapshot = image_id
        step = functools.partial(self._step, server_id)
        take_snapshot(self.snapshots, self.reporter, server_id, image_id, step)

    def _server_power(self, server: dict[str, Any]) -> Any | None:
        server_id = str(server["id"])
        vm_state, task = server["vm_state"], server["task_state"]
        if vm_state == s.ERROR:
            self._record_console(server_id)
            return None  # left as it is, for the user to inspect, reboot or delete
        if task == s.BLOCK_DEVICE_MAPPING:
            return None  # its volumes are still being made: nothing to define yet
        domain = self.hv.lookup(domain_name(server_id))
        if domain is None:
            domain = self._define(server)
            if vm_state != s.BUILDING and server["desired_power"] == "stopped":
                self._record_console(server_id)
                return domain
            if vm_state == s.ACTIVE and task is None:
                # A domain lost to a crash (or never saved): bring it back up.
                self._start(server_id, domain)
        if server["desired_power"] == "running":
            self._run(server, domain)
        elif server["desired_power"] == "stopped":
            self._stop(server, domain)
        self._record_console(server_id)
        return domain

    def _run(self, server: dict[str, Any], domain: Any) -> None:
        server_id, vm_state, task = str(server["id"]), server["vm_state"], server["task_state"]
        if server["reboot"]:
            self._step(server_id, f"rebooting ({server['reboot']})")
            hard = server["reboot"] == "HARD"
            self.hv.reboot(domain, hard, self.options.shutdown_timeout)
            self._note(server_id, f"rebooted ({server['reboot']})")
            self.reporter.active(server_id)
        elif vm_state == s.BUILDING or task == s.POWERING_ON:
            self._start(server_id, domain)
            self.reporter.active(server_id)
        elif not domain.isActive():
            # The guest shut itself down: the server is SHUTOFF now, as in
            # Nova's power sync, rather than started again behind its back.
            self.reporter.power(server_id, SHUTDOWN)
        elif server["power_state"] != RUNNING:
            self.reporter.power(server_id, RUNNING)

    def _stop(self, server: dict[str, Any], domain: Any) -> None:
        server_id = str(server["id"])
        if domain.isActive():
            self._step(server_id, "stopping the domain")
            self.hv.stop(domain, self.options.shutdown_timeout)
            self._note(server_id, "stopped")
        if server["vm_state"] != s.STOPPED or server["task_state"] is not None:
            self.reporter.stopped(server_id)

    def _start(self, server_id: str, domain: Any) -> None:
        if not domain.isActive():
            self._step(server_id, "starting the domain")
            self.hv.start(domain)
            self._note(server_id, "started")

    def _define(self, server: dict[str, Any]) -> Any:
        """Disks, seed and domain definition; each step skips what exists."""
        server_id = str(server["id"])
        self._step(server_id, "looking up the image")
        boot = plan.boot_images(server, self.images)
        flavor = server.get("flavor") or {}
        root = plan.root_volume(server)
        if root is not None:  # the root disk is the boot volume's file
            disk = Path(root["device_path"])
        else:
            self._step(server_id, f"caching image {boot.disk} and creating the disk")
            disk = self.disks.overlay(server_id, boot.disk, int(flavor.get("disk", 0)))
        kernel = initrd = None
        if boot.kernel:
            self._step(server_id, f"caching kernel {boot.kernel}")
            kernel = self.disks.cached(boot.kernel)[0]
        if boot.ramdisk:
            self._step(server_id, f"caching ramdisk {boot.ramdisk}")
            initrd = self.disks.cached(boot.ramdisk)[0]
        self._step(server_id, "building the seed")
        seed = self.disks.seed(server_id, plan.seed_data(server))
        spec = plan.domain_spec(
            server,
            self.options.domain_type,
            disk,
            seed,
            kernel,
            initrd,
            boot.cmdline,
            self.disks.console_path(server_id),
            self.options.host,
        )
        self._step(server_id, "defining the domain")
        return self.hv.define(render_domain(spec))

    def _remove(self, server_id: str, domain: Any | None) -> None:
        self._step(server_id, "removing the domain")
        if domain is not None:
            self.hv.remove(domain)
        self.disks.remove(server_id)
        self._console_seen.pop(server_id, None)

    # -- volumes ------------------------------------------------------------------
    def _volumes(self, server_id: str, domain: Any, attachments: list[dict[str, Any]]) -> None:
        """Make the domain's volume disks equal the server's attachments:
        `attaching` ones are plugged and reported, `attached` ones re-plugged
        if lost (a redefinition), `detaching` ones unplugged and reported,
        and a disk no attachment owns (a crash between a plug and its
        report, an attachment removed meanwhile) unplugged. A disk already
        there is only reported, never plugged twice, so a pass repeated
        after a crash converges on the same state."""
        assert self.volume_reporter is not None
        report = self.volume_reporter
        present = {d.volume_id: d.dev for d in self.hv.volume_disks(domain)}
        owned: set[str] = set()
        for a in attachments:
            volume_id, attachment_id, status = (
                str(a["volume_id"]),
                str(a["attachment_id"]),
                a["status"],
            )
            if status == vs.ATTACH_DETACHING:
                dev = present.pop(volume_id, None)
                if dev is not None and not self._unplugged(server_id, domain, volume_id, dev):
                    self._detach_overdue(volume_id, attachment_id, dev)
                    continue
                self._detach_started.pop(attachment_id, None)
                report.volume_detached(volume_id, attachment_id)
                continue
            if status not in (vs.ATTACH_ATTACHING, vs.ATTACHED):
                continue  # reserved: no host connection yet
            owned.add(volume_id)
            if volume_id in present:
                if status == vs.ATTACH_ATTACHING:
                    report.volume_attached(volume_id, attachment_id, "/dev/" + present[volume_id])
                continue
            try:
                self._step(server_id, f"plugging volume {volume_id}")
                dev = self._plug(domain, a)
                self._note(server_id, f"plugged volume {volume_id} as /dev/{dev}")
            except Exception as error:
                log.warning("server %s: attach of %s failed: %s", server_id, volume_id, error)
                if status == vs.ATTACH_ATTACHING:
                    report.attach_failed(volume_id, attachment_id, f"{error}"[:255])
                continue
            if status == vs.ATTACH_ATTACHING:
                report.volume_attached(volume_id, attachment_id, f"/dev/{dev}")
        for volume_id, dev in present.items():
            if volume_id in owned or dev == "vda":  # a boot volume is never unplugged
                continue
            try:
                self._step(server_id, f"unplugging stray volume disk {dev}")
                self.hv.detach_disk(domain, dev)
                self._note(server_id, f"unplugged volume {volume_id} (no attachment owns it)")
            except Exception as error:
                # A real guest releases a disk when it acknowledges the unplug,
                # so the live view may still hold one being detached: the
                # next pass tries again, the other servers are not held up.
                log.warning("server %s: unplug of stray %s failed: %s", server_id, dev, error)

    def _unplugged(self, server_id: str, domain: Any, volume_id: str, dev: str) -> bool:
        """Asks libvirt to unplug the disk; True once the guest let it go.
        libvirt accepts an unplug before a real guest acknowledges it, and
        qemu holds the file until then, so the disk must be gone from the
        domain before the volume may be called detached."""
        try:
            self._step(server_id, f"unplugging volume {volume_id}")
            self.hv.detach_disk(domain, dev)
        except Exception as error:  # e.g. an unplug still in progress: look anyway
            log.warning("server %s: detach of %s: %s", server_id, volume_id, error)
        if any(d.volume_id == volume_id for d in self.hv.volume_disks(domain)):
            log.info("server %s: waiting for the guest to release %s", server_id, dev)
            return False
        self._note(server_id, f"unplugged volume {volume_id}")
        return True

    def _detach_overdue(self, volume_id: str, attachment_id: str, dev: str) -> None:
        """The volume stays detaching while the guest may still release the
        disk; past `detach_timeout` the detach fails (the volume goes back
        in-use, as in Nova) rather than waiting for ever."""
        assert self.volume_reporter is not None
        started = self._detach_started.setdefault(attachment_id, self.clock())
        if self.clock() - started < self.options.detach_timeout:
            return
        del self._detach_started[attachment_id]
        reason = f"The guest did not release {dev} within {self.options.detach_timeout:.0f}s"
        self.volume_reporter.detach_failed(volume_id, attachment_id, reason)

    def _plug(self, domain: Any, attachment: dict[str, Any]) -> str:
        info = attachment.get("connection_info") or {}
        data = info.get("data") or {}
        if info.get("driver_volume_type") != "file" or not data.get("device_path"):
            raise HypervisorError(f"cannot plug a volume connected as {info!r}")
        used = disk_targets(self.hv.description(domain))
        dev = plan.volume_target(attachment.get("mountpoint"), used)
        xml = render_volume_disk(
            str(attachment["volume_id"]),
            str(data["device_path"]),
            str(data.get("format") or "qcow2"),
            dev,
            readonly=attachment.get("mode") == "ro",
        )
        self.hv.attach_disk(domain, xml)
        return dev

    # -- console ----------------------------------------------------------------
    def _note(self, server_id: str, what: str) -> None:
        """The test driver runs no guest, so nothing writes its console: say
        what happened there, so console output shows the life of the server."""
        if self.hv.is_test:
            self.disks.append_console(server_id, f"[strata test driver] domain {what}")

    def _record_console(self, server_id: str) -> None:
        version = self.disks.console_version(server_id)
        if version is None or self._console_seen.get(server_id) == version:
            return
        self.reporter.console(server_id, self.disks.console_tail(server_id))
        self._console_seen[server_id] = version
