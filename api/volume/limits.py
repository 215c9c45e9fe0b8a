"""/limits, /os-quota-sets and /os-availability-zone."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from api.common.http import Call, json_response
from api.volume.support import (
    TRUE,
    Caller,
    VolumeDeps,
    body_of,
    caller,
    dispatch,
    require_admin,
    wrap,
)
from commands.volume.quotas import ResetVolumeQuota, UpdateVolumeQuota
from domain.volume.quotas import DEFAULT_QUOTAS

Doc = dict[str, Any]
BASE = "/v3/{project_id}"


class LimitsApi:
    def __init__(self, deps: VolumeDeps) -> None:
        self.deps = deps

    def routes(self) -> list[Route]:
        quotas = BASE + "/os-quota-sets/{target}"
        return [
            Route(BASE + "/limits", wrap(self.limits), methods=["GET"]),
            Route(quotas, wrap(self.show_quota), methods=["GET"]),
            Route(quotas + "/defaults", wrap(self.defaults), methods=["GET"]),
            Route(quotas, wrap(self.update_quota), methods=["PUT"]),
            Route(quotas, wrap(self.reset_quota), methods=["DELETE"]),
            Route(BASE + "/os-availability-zone", wrap(self.zones), methods=["GET"]),
        ]

    def limits(self, call: Call) -> Response:
        who = caller(self.deps, call)
        limits = self.deps.queries.quota_limits(who.project_id)
        usage = self.deps.queries.usage(who.project_id)
        absolute = {
            "maxTotalVolumes": limits["volumes"],
            "maxTotalSnapshots": limits["snapshots"],
            "maxTotalVolumeGigabytes": limits["gigabytes"],
            "maxTotalBackups": limits["backups"],
            "maxTotalBackupGigabytes": limits["backup_gigabytes"],
            "totalVolumesUsed": usage["volumes"],
            "totalSnapshotsUsed": usage["snapshots"],
            "totalGigabytesUsed": usage["gigabytes"],
            "totalBackupsUsed": 0,
            "totalBackupGigabytesUsed": 0,
        }
        return json_response({"limits": {"rate": [], "absolute": absolute}})

    def _target(self, who: Caller, call: Call) -> str:
        target = call.path["target"]
        if target != who.project_id:
            require_admin(who, "volume_extension:quotas:show")
        return target

    def show_quota(self, call: Call) -> Response:
        who = caller(self.deps, call)
        target = self._target(who, call)
        limits = self.deps.queries.quota_limits(target)
        body: Doc = {"id": target}
        if call.query.get("usage", "false").lower() in TRUE:
            usage = self.deps.queries.usage(target)
            for key, limit in limits.items():
                body[key] = {
                    "limit": limit,
                    "in_use": usage.get(key, 0),
                    "reserved": 0,
                    "allocated": 0,
                }
        else:
            body.update(limits)
        return json_response({"quota_set": body})

    def defaults(self, call: Call) -> Response:
        caller(self.deps, call)
        return json_response({"quota_set": {"id": call.path["target"], **DEFAULT_QUOTAS}})

    def update_quota(self, call: Call) -> Response:
        who = caller(self.deps, call)
        require_admin(who, "volume_extension:quotas:update")
        limits = body_of(call, "quota_set")
        limits.pop("tenant_id", None)
        limits.pop("id", None)
        command = UpdateVolumeQuota(project_id=call.path["target"], limits=limits)
        return json_response({"quota_set": dispatch(self.deps, who, command)["quota_set"]})

    def reset_quota(self, call: Call) -> Response:
        who = caller(self.deps, call)
        require_admin(who, "volume_extension:quotas:delete")
        dispatch(self.deps, who, ResetVolumeQuota(project_id=call.path["target"]))
        return Response(status_code=200)

    def zones(self, call: Call) -> Response:
        caller(self.deps, call)
        names = {
            str(f.get("availability_zone", "nova")) for f in self.deps.queries.hosts().values()
        }
        info = [
            {"zoneName": z, "zoneState": {"available": True}} for z in sorted(names or {"nova"})
        ]
        return json_response({"availabilityZoneInfo": info})
