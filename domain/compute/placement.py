"""Choosing a host for a server: filters, then weights — pure functions.

The scheduler hands in what it loaded (host aggregates) and what the server
asks for; nothing here reads a database, so the whole decision is testable
in isolation and repeatable inside a retried command.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from domain.compute.hosts import RESOURCES, Host

NO_VALID_HOST = "No valid host was found. There are not enough hosts available."
WEIGHERS = ("spread", "pack")


@dataclass(frozen=True)
class Request:
    server_id: str
    resources: dict[str, int]
    availability_zone: str | None = None
    image_properties: dict[str, str] = field(default_factory=dict)
    same_host: frozenset[str] = frozenset()  # host names of the servers named in the hint
    different_host: frozenset[str] = frozenset()
    same_host_required: bool = False


def passes(host: Host, request: Request) -> bool:
    """Every filter Strata runs (Nova's RAM, Core, Disk, AZ, ImageProperties,
    SameHost and DifferentHost filters)."""
    inventory = host.inventory
    if inventory.get("disabled"):
        return False
    if not host.fits(request.resources):
        return False
    if request.availability_zone and inventory.get("availability_zone") != (
        request.availability_zone
    ):
        return False
    arch = request.image_properties.get("hw_architecture") or request.image_properties.get(
        "architecture"
    )
    if arch and inventory.get("cpu_arch") and arch != inventory["cpu_arch"]:
        return False
    hv_type = request.image_properties.get("hypervisor_type") or request.image_properties.get(
        "img_hv_type"
    )
    if hv_type and hv_type.lower() != str(inventory.get("hypervisor_type", "")).lower():
        return False
    if request.same_host_required and host.hostname not in request.same_host:
        return False
    return host.hostname not in request.different_host


def weight(host: Host, weigher: str) -> float:
    """Higher is better. Spread prefers free room, pack prefers full hosts;
    RAM counts most, as in Nova's default weigher multipliers."""
    score = 0.0
    for resource, multiplier in zip(RESOURCES, (0.5, 1.0, 0.25), strict=True):
        capacity = host.capacity(resource) or 1
        score += multiplier * host.free(resource) / capacity
    return score if weigher == "spread" else -score


def choose(
    hosts: Sequence[Host],
    request: Request,
    weigher: str = "spread",
    subset: int = 1,
    pick: Callable[[list[Host]], Host] | None = None,
) -> Host | None:
    """The host to claim, or None when no host passes the filters.

    `pick` chooses among the best `subset` hosts (Nova's host_subset_size,
    1 by default) and the hosts that tie for best. The scheduler picks at
    random, so concurrent boots that all saw the same empty hosts usually
    claim different ones instead of colliding on the first by name; the
    domain itself draws no random numbers (without `pick`, the first wins).
    """
    weighed = sorted(
        ((weight(h, weigher), h) for h in hosts if passes(h, request)),
        key=lambda pair: (-pair[0], pair[1].hostname),
    )
    if not weighed:
        return None
    best = weighed[0][0]
    tied = [h for w, h in weighed if best - w < 1e-9]
    pool = [h for _, h in weighed[: max(1, subset)]]
    choices = tied if len(tied) > len(pool) else pool
    return pick(choices) if pick is not None else choices[0]
