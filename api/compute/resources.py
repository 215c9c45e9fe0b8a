"""Hypervisors, availability zones, limits and quota sets."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from api.common.http import Call, json_response
from api.compute.support import (
    Caller,
    ComputeDeps,
    bad_request,
    caller,
    dispatch,
    not_found,
    nova_time,
    require_admin,
    wrap,
)
from commands.compute.quotas import ResetQuotaSet, UpdateQuotaSet
from domain.compute.quotas import DEFAULT_QUOTAS, LEGACY_QUOTAS

Doc = dict[str, Any]
HYPERVISORS = "os_compute_api:os-hypervisors"


class ResourceApi:
    def __init__(self, deps: ComputeDeps) -> None:
        self.deps = deps

    def routes(self) -> list[Route]:
        h, q = "/v2.1/os-hypervisors", "/v2.1/os-quota-sets/{project}"
        return [
            Route(h, wrap(self.hypervisors), methods=["GET"]),
            Route(h + "/detail", wrap(self.hypervisors_detail), methods=["GET"]),
            Route(h + "/statistics", wrap(self.statistics), methods=["GET"]),
            Route(h + "/{id}", wrap(self.hypervisor), methods=["GET"]),
            Route(h + "/{id}/uptime", wrap(self.uptime), methods=["GET"]),
            Route("/v2.1/os-availability-zone", wrap(self.zones), methods=["GET"]),
            Route("/v2.1/os-availability-zone/detail", wrap(self.zones_detail), methods=["GET"]),
            Route("/v2.1/limits", wrap(self.limits), methods=["GET"]),
            Route("/v2.1/os-aggregates", wrap(self.aggregates), methods=["GET"]),
            Route(q, wrap(self.quota_show), methods=["GET"]),
            Route(q, wrap(self.quota_update), methods=["PUT"]),
            Route(q, wrap(self.quota_reset), methods=["DELETE"]),
            Route(q + "/defaults", wrap(self.quota_defaults), methods=["GET"]),
            Route(q + "/detail", wrap(self.quota_detail), methods=["GET"]),
        ]

    # -- hypervisors --------------------------------------------------------------
    def _hypervisor(self, who: Caller, host: Doc, detail: bool) -> Doc:
        inventory, claims = host["inventory"], host["claims"]
        out: Doc = {
            "id": host["id"] if who.at_least("2.53") else int(host["number"]),
            "hypervisor_hostname": host["hostname"],
            "state": "up",
            "status": "disabled" if inventory.get("disabled") else "enabled",
        }
        if not detail:
            return out
        used = {
            r: sum(c.get(r, 0) for c in claims.values()) for r in ("vcpus", "memory_mb", "disk_gb")
        }
        cpu_info: Any = {"arch": inventory.get("cpu_arch", ""), "model": "", "vendor": ""}
        out.update(
            {
                "vcpus": inventory["vcpus"],
                "memory_mb": inventory["memory_mb"],
                "local_gb": inventory["disk_gb"],
                "vcpus_used": used["vcpus"],
                "memory_mb_used": used["memory_mb"],
                "local_gb_used": used["disk_gb"],
                "free_ram_mb": inventory["memory_mb"] - used["memory_mb"],
                "free_disk_gb": inventory["disk_gb"] - used["disk_gb"],
                "disk_available_least": inventory["disk_gb"] - used["disk_gb"],
                "hypervisor_type": inventory.get("hypervisor_type", "QEMU"),
                "hypervisor_version": inventory.get("hypervisor_version", 0),
                "running_vms": len(claims),
                "current_workload": 0,
                "host_ip": inventory.get("host_ip", ""),
                "cpu_info": cpu_info if who.at_least("2.28") else str(cpu_info),
                "service": {
                    "host": host["hostname"],
                    "id": host["id"] if who.at_least("2.53") else int(host["number"]),
                    "disabled_reason": None,
                },
            }
        )
        if inventory.get("hypervisor_driver"):
            out["strata:driver"] = inventory["hypervisor_driver"]
        if inventory.get("hypervisor_driver_reason"):
            out["strata:driver_reason"] = inventory["hypervisor_driver_reason"]
        return out

    def _hosts(self, call: Call, who: Caller) -> list[Doc]:
        require_admin(who, f"{HYPERVISORS}:list")
        hosts = self.deps.queries.hosts()
        pattern = call.query.get("hypervisor_hostname_pattern")
        if pattern:
            hosts = [h for h in hosts if pattern in h["hostname"]]
        return hosts

    def hypervisors(self, call: Call) -> Response:
        who = caller(self.deps, call)
        docs = [self._hypervisor(who, h, False) for h in self._hosts(call, who)]
        return json_response({"hypervisors": docs})

    def hypervisors_detail(self, call: Call) -> Response:
        who = caller(self.deps, call)
        docs = [self._hypervisor(who, h, True) for h in self._hosts(call, who)]
        return json_response({"hypervisors": docs})

    def hypervisor(self, call: Call) -> Response:
        who = caller(self.deps, call)
        for host in self._hosts(call, who):
            if call.path["id"] in (host["id"], str(host["number"])):
                return json_response({"hypervisor": self._hypervisor(who, host, True)})
        raise not_found(f"Hypervisor with ID '{call.path['id']}' could not be found.")

    def uptime(self, call: Call) -> Response:
        """Nova returns the host's `uptime` output; agents do not report it,
        so it is empty (clients parse it as text: null would break them)."""
        who = caller(self.deps, call)
        for host in self._hosts(call, who):
            if call.path["id"] in (host["id"], str(host["number"])):
                body = {**self._hypervisor(who, host, False), "uptime": ""}
                return json_response({"hypervisor": body})
        raise not_found(f"Hypervisor with ID '{call.path['id']}' could not be found.")

    def statistics(self, call: Call) -> Response:
        who = caller(self.deps, call)
        docs = [self._hypervisor(who, h, True) for h in self._hosts(call, who)]
        keys = (
            "vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used", "local_gb_used",
            "free_ram_mb", "free_disk_gb", "current_workload", "running_vms", "disk_available_least",
        )  # fmt: skip
        stats: Doc = {k: sum(int(d[k]) for d in docs) for k in keys}
        stats["count"] = len(docs)
        return json_response({"hypervisor_statistics": stats})

    # -- availability zones ---------------------------------------------------------
    def aggregates(self, call: Call) -> Response:
        """Strata has no host aggregates (zones come from each host's own
        inventory); the list is asked for by `openstack hypervisor show`."""
        caller(self.deps, call)
        return json_response({"aggregates": []})

    def zones(self, call: Call) -> Response:
        caller(self.deps, call)
        names = sorted(
            {
                str(h["inventory"].get("availability_zone", "nova"))
                for h in self.deps.queries.hosts()
            }
        )
        info = [{"zoneName": n, "zoneState": {"available": True}, "hosts": None} for n in names]
        return json_response({"availabilityZoneInfo": info})

    def zones_detail(self, call: Call) -> Response:
        who = caller(self.deps, call)
        require_admin(who, "os_compute_api:os-availability-zone:detail")
        zones: dict[str, Doc] = {}
        for host in self.deps.queries.hosts():
            zone = str(host["inventory"].get("availability_zone", "nova"))
            service = {
                "available": True,
                "active": True,
                "updated_at": nova_time(host["updated_at"]),
            }
            zones.setdefault(zone, {})[host["hostname"]] = {"nova-compute": service}
        info = [
            {"zoneName": z, "zoneState": {"available": True}, "hosts": hosts}
            for z, hosts in sorted(zones.items())
        ]
        return json_response({"availabilityZoneInfo": info})

    # -- limits and quotas --------------------------------------------------------------
    def limits(self, call: Call) -> Response:
        who = caller(self.deps, call)
        project = who.project_id
        if who.is_admin and call.query.get("tenant_id"):
            project = call.query["tenant_id"]
        q, used = self.deps.queries.quota_limits(project), self.deps.queries.usage(project)
        absolute: Doc = {
            "maxTotalInstances": q["instances"],
            "maxTotalCores": q["cores"],
            "maxTotalRAMSize": q["ram"],
            "maxServerMeta": q["metadata_items"],
            "maxTotalKeypairs": q["key_pairs"],
            "maxServerGroups": q["server_groups"],
            "maxServerGroupMembers": q["server_group_members"],
            "totalInstancesUsed": used["instances"],
            "totalCoresUsed": used["cores"],
            "totalRAMUsed": used["ram"],
            "totalServerGroupsUsed": 0,
        }
        if not who.at_least("2.39"):
            absolute["maxImageMeta"] = q["metadata_items"]
        if not who.at_least("2.57"):
            absolute["maxPersonality"] = q["injected_files"]
            absolute["maxPersonalitySize"] = q["injected_file_content_bytes"]
        if not who.at_least("2.36"):
            absolute.update(
                maxTotalFloatingIps=-1,
                maxSecurityGroups=-1,
                maxSecurityGroupRules=-1,
                totalFloatingIpsUsed=0,
                totalSecurityGroupsUsed=0,
            )
        return json_response({"limits": {"rate": [], "absolute": absolute}})

    def _shown(self, who: Caller, values: dict[str, Any]) -> Doc:
        out = dict(values)
        if not who.at_least("2.36"):
            out.update({k: v for k, v in LEGACY_QUOTAS.items()})
        if who.at_least("2.57"):
            for key in (
                "injected_files",
                "injected_file_content_bytes",
                "injected_file_path_bytes",
            ):
                out.pop(key, None)
        return out

    def _project(self, call: Call, who: Caller) -> str:
        project = call.path["project"]
        if project != who.project_id and not who.is_admin:
            raise not_found()  # Nova's policy hides other projects' quotas
        return project

    def quota_show(self, call: Call) -> Response:
        who = caller(self.deps, call)
        project = self._project(call, who)
        limits = self._shown(who, self.deps.queries.quota_limits(project))
        return json_response({"quota_set": {"id": project, **limits}})

    def quota_defaults(self, call: Call) -> Response:
        who = caller(self.deps, call)
        project = call.path["project"]
        return json_response({"quota_set": {"id": project, **self._shown(who, DEFAULT_QUOTAS)}})

    def quota_detail(self, call: Call) -> Response:
        who = caller(self.deps, call)
        project = self._project(call, who)
        limits = self._shown(who, self.deps.queries.quota_limits(project))
        used = self.deps.queries.usage(project)
        detail = {
            k: {"limit": v, "in_use": used.get(k, 0), "reserved": 0} for k, v in limits.items()
        }
        return json_response({"quota_set": {"id": project, **detail}})

    def quota_update(self, call: Call) -> Response:
        who = caller(self.deps, call)
        require_admin(who, "os_compute_api:os-quota-sets:update")
        body = call.body.get("quota_set") if isinstance(call.body, dict) else None
        if not isinstance(body, dict):
            raise bad_request("Invalid input for field/attribute quota_set.")
        limits = {k: v for k, v in body.items() if k not in ("force", "id")}
        if not who.at_least("2.36"):
            limits = {k: v for k, v in limits.items() if k not in LEGACY_QUOTAS}
        project = call.path["project"]
        dispatch(self.deps, who, UpdateQuotaSet(project_id=project, limits=limits))
        shown = self._shown(who, self.deps.queries.quota_limits(project))
        return json_response({"quota_set": shown})

    def quota_reset(self, call: Call) -> Response:
        who = caller(self.deps, call)
        dispatch(self.deps, who, ResetQuotaSet(project_id=call.path["project"]))
        return Response(status_code=202)
