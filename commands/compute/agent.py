"""What compute agents tell the control plane: their host, and what happened.

Agents never write read models; they dispatch these commands. Each report is
idempotent (a repeated one changes nothing), so an agent may resend after a
crash without leaving a trace twice.
"""

from __future__ import annotations

import uuid
from typing import Any

from commands.bus import Command, Dependencies, Outcome, handler
from commands.compute.servers import ServerNotFound
from commands.context import Context
from commands.unit_of_work import UnitOfWork
from domain.compute.hosts import REGISTRY_ID, Host, HostRegistry, host_id
from domain.compute.servers import Server
from domain.errors import Forbidden


class RegisterHost(Command):
    hostname: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    disk_allocation_ratio: float = 1.0
    reserved_memory_mb: int = 0
    availability_zone: str = "nova"
    hypervisor_type: str = "QEMU"
    hypervisor_version: int = 0
    hypervisor_driver: str = ""
    hypervisor_driver_reason: str = ""  # why this accelerator (a KVM probe's verdict)
    cpu_arch: str = "x86_64"
    host_ip: str = ""
    disabled: bool = False


class ReportServerActive(Command):
    server_id: uuid.UUID
    hostname: str


class ReportServerStopped(Command):
    server_id: uuid.UUID


class ReportServerFailed(Command):
    server_id: uuid.UUID
    reason: str
    details: str = ""


class ReportPowerState(Command):
    server_id: uuid.UUID
    power_state: int


class RecordConsoleOutput(Command):
    server_id: uuid.UUID
    output: str


def _agent(ctx: Context) -> None:
    # Agents act with the system context (or an admin's service token).
    if not ctx.is_admin:
        raise Forbidden("Only compute agents may report on hosts and servers.")


def _server(uow: UnitOfWork, server_id: uuid.UUID) -> Server:
    server = uow.get(Server, server_id)
    if server is None:
        raise ServerNotFound(server_id)
    return server


@handler(RegisterHost)
def register_host(cmd: RegisterHost, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    _agent(ctx)
    inventory: dict[str, Any] = cmd.model_dump(exclude={"hostname", "reserved_memory_mb"})
    inventory["reserved_memory_mb"] = cmd.reserved_memory_mb
    host = uow.get(Host, host_id(cmd.hostname))
    if host is None:
        uow.add(Host(hostname=cmd.hostname, inventory=inventory))
    else:
        host.update_inventory(inventory)
    registry = uow.get(HostRegistry, REGISTRY_ID)
    if registry is None:
        registry = HostRegistry()
        uow.add(registry)
    registry.add(cmd.hostname)
    return {"id": host_id(cmd.hostname)}


@handler(ReportServerActive)
def report_active(
    cmd: ReportServerActive, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    _agent(ctx)
    _server(uow, cmd.server_id).became_active(cmd.hostname)
    return {"id": cmd.server_id}


@handler(ReportServerStopped)
def report_stopped(
    cmd: ReportServerStopped, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    _agent(ctx)
    _server(uow, cmd.server_id).stopped()
    return {"id": cmd.server_id}


@handler(ReportServerFailed)
def report_failed(
    cmd: ReportServerFailed, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    _agent(ctx)
    _server(uow, cmd.server_id).fail(cmd.reason, 500, cmd.details)
    return {"id": cmd.server_id}


@handler(ReportPowerState)
def report_power(
    cmd: ReportPowerState, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    _agent(ctx)
    _server(uow, cmd.server_id).power_state_changed(cmd.power_state)
    return {"id": cmd.server_id}


@handler(RecordConsoleOutput)
def record_console(
    cmd: RecordConsoleOutput, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    _agent(ctx)
    _server(uow, cmd.server_id).record_console(cmd.output)
    return {"id": cmd.server_id}
