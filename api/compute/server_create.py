"""Turning a Nova server-create body into a CreateServer command.

Everything the command cannot decide from aggregates is resolved here, from
the read models: "auto" networks, security group names, and the project's
quota (counted usage, as Nova counts it).
"""

from __future__ import annotations

import uuid
from typing import Any

from api.common.errors import ApiError
from api.compute.support import Caller, ComputeDeps, bad_request
from commands.compute.networking import NetworkRequest
from commands.compute.servers import BlockDevice, CreateServer

SCHEDULER_HINTS = ("os:scheduler_hints", "OS-SCH-HNT:scheduler_hints")


def _uuid(value: Any, message: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as error:
        raise bad_request(message) from error


def _count(server: dict[str, Any], key: str) -> int:
    value = server.get(key, 1)
    try:
        number = int(value)
    except (TypeError, ValueError) as error:
        raise bad_request(f"Invalid input for field/attribute {key}. Value: {value}.") from error
    if number < 1:
        raise bad_request(f"Invalid input for field/attribute {key}. Value: {value}.")
    return number


def _ref(value: Any, what: str) -> str:
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str) or not value:
        raise bad_request(f"Invalid input for field/attribute {what}. Value: {value}.")
    return value.rstrip("/").rsplit("/", 1)[-1]  # Nova accepts a flavor URL too


def networks_of(deps: ComputeDeps, who: Caller, server: dict[str, Any]) -> list[NetworkRequest]:
    requested = server.get("networks")
    if requested is None and who.at_least("2.37"):
        raise bad_request("Invalid input for field/attribute networks. Value: None.")
    if requested == "none":
        return []
    if requested is None or requested == "auto":
        return _auto(deps, who, required=requested == "auto")
    if isinstance(requested, str) or not isinstance(requested, list):
        raise bad_request(f"Bad networks format: {requested}")
    out = []
    for entry in requested:
        if not isinstance(entry, dict):
            raise bad_request("Bad networks format")
        port = entry.get("port")
        net = entry.get("uuid")
        if port:
            out.append(
                NetworkRequest(
                    port_id=_uuid(
                        port, f"Bad port format: port uuid is not in proper format ({port})"
                    )
                )
            )
        elif net:
            message = f"Bad networks format: network uuid is not in proper format ({net})"
            fixed = entry.get("fixed_ip")
            out.append(NetworkRequest(network_id=_uuid(net, message), fixed_ip=fixed or None))
        else:
            raise bad_request("Bad networks format: network uuid is not in proper format (None)")
    return out


def _auto(deps: ComputeDeps, who: Caller, required: bool) -> list[NetworkRequest]:
    """Nova's "get me a network": the one tenant network the project can use."""
    networks = [
        n for n in deps.network.select("networks", who.project_id) if not n.get("router:external")
    ]
    if len(networks) > 1:
        raise ApiError(
            409, "Multiple possible networks found, use a Network ID to be more specific."
        )
    if not networks:
        if required:
            raise bad_request(
                f"Unable to automatically allocate a network for project {who.project_id}"
            )
        return []
    return [NetworkRequest(network_id=uuid.UUID(networks[0]["id"]))]


def security_groups_of(
    deps: ComputeDeps, who: Caller, server: dict[str, Any]
) -> tuple[list[str], list[uuid.UUID] | None]:
    requested = server.get("security_groups") or [{"name": "default"}]
    names = []
    for entry in requested:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise bad_request("Invalid input for field/attribute security_groups.")
        names.append(entry["name"])
    if names == ["default"]:
        return names, None  # the port gets the project's default group, made if missing
    groups = deps.network.select("security-groups", who.project_id)
    ids = []
    for name in names:
        match = [g for g in groups if name in (g["name"], g["id"])]
        if len(match) != 1:
            raise bad_request(f"Security group {name} not found for project {who.project_id}.")
        ids.append(uuid.UUID(match[0]["id"]))
    return names, ids


def hints_of(body: dict[str, Any]) -> dict[str, list[uuid.UUID]]:
    out: dict[str, list[uuid.UUID]] = {"same_host": [], "different_host": []}
    for key in SCHEDULER_HINTS:
        hints = body.get(key) or {}
        if not isinstance(hints, dict):
            raise bad_request("Invalid input for field/attribute scheduler_hints.")
        for name, found in out.items():
            values = hints.get(name, [])
            for value in [values] if isinstance(values, str) else values:
                found.append(_uuid(value, f"Invalid input for field/attribute {name}."))
    return out


def check_quota(
    deps: ComputeDeps, who: Caller, flavor_ref: str, count: int, metadata_items: int = 0
) -> None:
    """Nova's counted quota check: 403 with Nova's message when over."""
    limits = deps.queries.quota_limits(who.project_id)
    if 0 <= limits["metadata_items"] < metadata_items:
        raise ApiError(403, f"Maximum number of metadata items exceeds {limits['metadata_items']}")
    flavor = deps.queries.flavor(flavor_ref)
    if flavor is None:
        return  # the command answers "Flavor ... could not be found."
    used = deps.queries.usage(who.project_id)
    wanted = {"instances": count, "cores": flavor["vcpus"] * count, "ram": flavor["ram"] * count}
    for resource in ("instances", "cores", "ram"):
        limit = limits[resource]
        if limit >= 0 and used[resource] + wanted[resource] > limit:
            raise ApiError(
                403,
                f"Quota exceeded for {resource}: Requested {wanted[resource]}, but already "
                f"used {used[resource]} of {limit} {resource}",
            )


SOURCE_TYPES = ("volume", "image", "snapshot", "blank")
DESTINATION_TYPES = ("local", "volume")
BOOT_SEQUENCE = (
    "Block Device Mapping is Invalid: Boot sequence for the instance and image/block device "
    "mapping combination is not valid."
)


def _int(bdm: dict[str, Any], key: str, minimum: int) -> int | None:
    """Nova's schema takes integers, or strings of digits (the CLI's --block-device)."""
    value = bdm.get(key)
    if value is None:
        return None
    try:
        number = int(value)
        if isinstance(value, bool) or number < minimum or isinstance(value, float):
            raise ValueError(value)
    except (TypeError, ValueError) as error:
        raise bad_request(f"Invalid input for field/attribute {key}. Value: {value}.") from error
    return number


def _bool(bdm: dict[str, Any], key: str) -> bool:
    value = bdm.get(key)
    if value is None:
        return False  # the CLI sends null when --delete-on-termination is not given
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    raise bad_request(f"Invalid input for field/attribute {key}. Value: {value}.")


def _block_device(bdm: Any) -> tuple[str | None, BlockDevice | None]:
    """One mapping as (the image booted locally, or a volume of the server)."""
    if not isinstance(bdm, dict):
        raise bad_request("Invalid input for field/attribute block_device_mapping_v2.")
    source = bdm.get("source_type")
    if source not in SOURCE_TYPES:
        raise bad_request(
            f"Invalid input for field/attribute source_type. Value: {source}. "
            f"'{source}' is not one of {list(SOURCE_TYPES)}"
        )
    destination = bdm.get("destination_type") or ("volume" if source == "volume" else "local")
    if destination not in DESTINATION_TYPES:
        raise bad_request(
            f"Invalid input for field/attribute destination_type. Value: {destination}. "
            f"'{destination}' is not one of {list(DESTINATION_TYPES)}"
        )
    boot_index = _int(bdm, "boot_index", -1)
    size = _int(bdm, "volume_size", 0)
    ref = bdm.get("uuid")
    if source != "blank":
        if not isinstance(ref, str) or not ref:
            raise bad_request(f"Invalid input for field/attribute uuid. Value: {ref}.")
        _uuid(ref, f"Invalid input for field/attribute uuid. Value: {ref}.")
    if destination == "local":
        if source == "image" and boot_index == 0:
            return ref, None
        if source == "blank":
            raise bad_request(
                "Block Device Mapping is Invalid: local ephemeral and swap disks are not "
                "supported by Strata; use a flavor's disk or a blank volume."
            )
        raise bad_request(
            f"Block Device Mapping is Invalid: Mapping {source} to local is not supported."
        )
    device_name = bdm.get("device_name")
    if device_name is not None and not isinstance(device_name, str):
        raise bad_request(f"Invalid input for field/attribute device_name. Value: {device_name}.")
    volume_type = bdm.get("volume_type")
    if volume_type is not None and not isinstance(volume_type, str):
        raise bad_request(f"Invalid input for field/attribute volume_type. Value: {volume_type}.")
    device = BlockDevice(
        source_type=source,
        uuid=ref,
        volume_size=size,
        boot_index=boot_index,
        delete_on_termination=_bool(bdm, "delete_on_termination"),
        device_name=device_name or None,
        volume_type=volume_type or None,
    )
    return None, device


def boot_of(server: dict[str, Any]) -> tuple[str, list[BlockDevice]]:
    """The image to boot (none for a volume-backed server) and the volumes of
    the server, from imageRef and block_device_mapping_v2."""
    if server.get("block_device_mapping"):
        raise bad_request(
            "The legacy block_device_mapping is not supported; use block_device_mapping_v2."
        )
    mappings = server.get("block_device_mapping_v2") or []
    if not isinstance(mappings, list):
        raise bad_request("Invalid input for field/attribute block_device_mapping_v2.")
    image = server.get("imageRef")
    devices: list[BlockDevice] = []
    boots = 0
    for bdm in mappings:
        local, device = _block_device(bdm)
        if local is not None:
            image = image or local
            boots += 1
        if device is not None:
            devices.append(device)
            boots += device.boot_index == 0
    if boots > 1:
        raise bad_request(BOOT_SEQUENCE)
    if any(d.boot_index == 0 for d in devices):
        return "", devices  # Nova ignores imageRef for a volume-backed server
    if image is None:
        raise bad_request("Missing imageRef attribute")
    if not image:
        raise bad_request(BOOT_SEQUENCE)
    return _ref(image, "imageRef"), devices


def check_volume_quota(
    deps: ComputeDeps, who: Caller, devices: list[BlockDevice], count: int
) -> None:
    """The volumes a boot makes (from an image, or blank) count against the
    project's block-storage quota, checked before anything is written; Nova's
    VolumeLimitExceeded is a 403."""
    made = [d for d in devices if d.source_type in ("image", "blank")]
    if not made:
        return
    limits = deps.volumes.quota_limits(who.project_id)
    used = deps.volumes.usage(who.project_id)
    wanted_volumes = len(made) * count
    wanted_gigabytes = sum(d.volume_size or 0 for d in made) * count
    if 0 <= limits["volumes"] < used["volumes"] + wanted_volumes or (
        0 <= limits["gigabytes"] < used["gigabytes"] + wanted_gigabytes
    ):
        raise ApiError(403, "Volume resource quota exceeded")


def create_command(deps: ComputeDeps, who: Caller, body: Any) -> tuple[CreateServer, bool]:
    if not isinstance(body, dict) or not isinstance(body.get("server"), dict):
        raise bad_request("Invalid input for field/attribute server. Value: None.")
    server: dict[str, Any] = body["server"]
    if not isinstance(server.get("name"), str):
        raise bad_request("Invalid input for field/attribute name. Value: None.")
    image_ref, devices = boot_of(server)
    if "flavorRef" not in server:
        raise bad_request("Missing flavorRef attribute")
    metadata = server.get("metadata") or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and 0 < len(k) <= 255 and len(v) <= 255
        for k, v in metadata.items()
    ):
        raise bad_request("Invalid input for field/attribute metadata.")
    tags = server.get("tags") or []
    if tags and not who.at_least("2.52"):
        raise bad_request("Additional properties are not allowed ('tags' was unexpected)")
    names, group_ids = security_groups_of(deps, who, server)
    hints = hints_of(body)
    minimum, maximum = _count(server, "min_count"), _count(server, "max_count")
    if "max_count" not in server:
        maximum = max(minimum, maximum)
    flavor_ref = _ref(server["flavorRef"], "flavorRef")
    check_quota(deps, who, flavor_ref, minimum, len(metadata))
    check_volume_quota(deps, who, devices, minimum)
    user_data = server.get("user_data")
    if user_data is not None and not isinstance(user_data, str):
        raise bad_request("User data needs to be valid base 64.")
    description = server.get("description")
    if description is not None and not who.at_least("2.19"):
        raise bad_request("Additional properties are not allowed ('description' was unexpected)")
    command = CreateServer(
        name=server["name"],
        image_ref=image_ref,
        flavor_ref=flavor_ref,
        description=description,
        networks=networks_of(deps, who, server),
        security_group_ids=group_ids,
        security_group_names=names,
        key_name=server.get("key_name") or None,
        user_data=user_data,
        metadata=metadata,
        min_count=minimum,
        max_count=maximum,
        availability_zone=server.get("availability_zone") or None,
        same_host=hints["same_host"],
        different_host=hints["different_host"],
        tags=[str(t) for t in tags],
        config_drive=bool(server.get("config_drive")),
        block_devices=devices,
    )
    return command, bool(server.get("return_reservation_id"))
