"""What network agents report: bindings and status changes, as commands.

Agents never write read models; they dispatch these and the events they
cause are how the API (and anyone reading the log) learns what the host did.
"""

from __future__ import annotations

import uuid
from typing import Literal

from commands.bus import Command, Dependencies, Outcome, handler
from commands.context import Context
from commands.network.support import find
from commands.unit_of_work import UnitOfWork
from domain.network.floatingips import FloatingIp
from domain.network.ports import Port
from domain.network.routers import Router

Status = Literal["ACTIVE", "DOWN", "ERROR", "BUILD"]


class BindPort(Command):
    """The agent of `host` wired the port: it becomes ACTIVE there."""

    port_id: uuid.UUID
    host: str
    vif_type: str = "bridge"


class ReportPortStatus(Command):
    port_id: uuid.UUID
    status: Status
    reason: str = ""


class ReportRouterStatus(Command):
    router_id: uuid.UUID
    status: Status
    reason: str = ""


class ReportFloatingIpStatus(Command):
    floatingip_id: uuid.UUID
    status: Status
    reason: str = ""


@handler(BindPort)
def bind_port(cmd: BindPort, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    port = find(uow, Port, cmd.port_id, "port")
    port.bind(cmd.host, cmd.vif_type)
    return {"id": port.id, "status": port.status}


@handler(ReportPortStatus)
def report_port(
    cmd: ReportPortStatus, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    port = find(uow, Port, cmd.port_id, "port")
    port.report_status(cmd.status, cmd.reason)
    return {"id": port.id, "status": port.status}


@handler(ReportRouterStatus)
def report_router(
    cmd: ReportRouterStatus, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    router = find(uow, Router, cmd.router_id, "router")
    router.report_status(cmd.status, cmd.reason)
    return {"id": router.id, "status": router.status}


@handler(ReportFloatingIpStatus)
def report_floatingip(
    cmd: ReportFloatingIpStatus, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    fip = find(uow, FloatingIp, cmd.floatingip_id, "floating ip")
    fip.record(status=cmd.status)
    return {"id": fip.id, "status": fip.status}
