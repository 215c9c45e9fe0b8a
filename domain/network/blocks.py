"""Allocation blocks: a subnet's addresses, handed out by many small aggregates.

When the subnet itself held every allocation, each port creation wrote the
next version of that one aggregate: concurrent creations on a busy subnet
collided and retried in a queue, and the subnet's stream (replayed on every
load) grew with every port ever made. Instead a subnet's address space is cut
into aligned blocks (of `block_size` addresses), and each block that is used
is an `AddressBlock` aggregate holding the allocations of its range.

"No address is ever handed out twice" stays an invariant of aggregates and of
the store's optimistic concurrency: an address belongs to exactly one block,
so two ports racing for it write the same block (or both try to create it at
version 1, and the primary key lets one through); the loser is retried on the
new state. Ports that take addresses from different blocks do not collide.

Block ids are computable (`uuid5(subnet_id, block_start)`), so blocks are
created lazily on their first allocation: an IPv6 /64 (2^56 blocks) costs
nothing until used. Deleting a subnet must find every block: a subnet of at
most TARGET_BLOCKS blocks simply loads them all; a bigger one records which
blocks it lets allocations use, a batch at a time (one event per BATCH
blocks, not per port).
"""

from __future__ import annotations

import functools
import ipaddress
import uuid
from collections.abc import Container, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.network.errors import NeutronNotFound

# Addresses per block: the smallest power of two from MIN_BLOCK that cuts the
# subnet into at most TARGET_BLOCKS blocks, capped at MAX_BLOCK. Many blocks
# per subnet make concurrent creations rarely pick the same one (8 writers
# over the 64 blocks of a /22 collide a few times in a hundred); small subnets
# still have few blocks, and no block holds more than MAX_BLOCK allocations.
# The size is part of every block id: changing these numbers would re-cut
# existing subnets, so it needs a new Subnet.Created class_version whose
# upcaster keeps the old size.
MIN_BLOCK = 16
MAX_BLOCK = 256
TARGET_BLOCKS = 64
# A subnet too big to enumerate its blocks (more than TARGET_BLOCKS: IPv6,
# IPv4 bigger than a /18) records which blocks may hold allocations, BATCH at
# a time: the first batch when it is created, the next one when allocations
# find the reserved blocks full. Allocations inside reserved blocks never
# write the subnet, so it is written once per BATCH blocks, not per port.
BATCH = 64
# Blocks probed from the random start before concluding the reserved ones are
# (nearly) full and reserving the next batch: bounds the work of one
# allocation in a big subnet, where walking every reserved block would cost
# one load each.
PROBES = 8
DHCP_OWNER = "network:dhcp"


def block_size(num_addresses: int) -> int:
    size = MIN_BLOCK
    while size < MAX_BLOCK and num_addresses > size * TARGET_BLOCKS:
        size *= 2
    return size


def block_id(subnet_id: uuid.UUID | str, start: str) -> uuid.UUID:
    subnet = subnet_id if isinstance(subnet_id, uuid.UUID) else uuid.UUID(subnet_id)
    return uuid.uuid5(subnet, start)


Pool = dict[str, str]


@functools.lru_cache(maxsize=16384)
def _address_value(address: str) -> int:
    """An address as a number. Cached: a big subnet converts every block it
    has reserved on each allocation, and parsing is most of that work."""
    return int(ipaddress.ip_address(address))


@dataclass(frozen=True)
class BlockLayout:
    """Which blocks of a subnet hold pool addresses, without listing them all.

    Block `k` covers `[network + k*size, network + (k+1)*size)`. `spans` are
    the merged, ordered ranges of block indices that meet an allocation pool
    (an IPv6 /64 pool is one span of 2^56 indices, never expanded).
    """

    network: int
    version: int
    size: int
    count: int  # blocks of the whole subnet, pools or not
    pools: tuple[tuple[int, int], ...]
    spans: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, cidr: str, pools: Sequence[Pool]) -> BlockLayout:
        net = ipaddress.ip_network(cidr)
        base = int(net.network_address)
        size = block_size(net.num_addresses)
        ranges = sorted(
            (int(ipaddress.ip_address(p["start"])), int(ipaddress.ip_address(p["end"])))
            for p in pools
        )
        spans: list[tuple[int, int]] = []
        for low, high in ranges:
            first, last = (low - base) // size, (high - base) // size
            if spans and first <= spans[-1][1] + 1:  # two pools sharing a block
                spans[-1] = (spans[-1][0], max(spans[-1][1], last))
            else:
                spans.append((first, last))
        count = -(-net.num_addresses // size)
        return cls(base, net.version, size, count, tuple(ranges), tuple(spans))

    @property
    def enumerable(self) -> bool:
        """Few enough blocks to load them all: such a subnet needs no record of
        which blocks are used (and its allocations never write it)."""
        return self.count <= TARGET_BLOCKS

    def every_start(self) -> Iterator[str]:
        return (self.start(index) for index in range(self.count))

    def index_of(self, address: str) -> int:
        return (_address_value(address) - self.network) // self.size

    def start(self, index: int) -> str:
        return str(ipaddress.ip_address(self.network + index * self.size))

    def indices(self) -> Iterator[int]:
        """Every block meeting a pool, in address order (lazily: may be 2^56)."""
        for first, last in self.spans:
            yield from range(first, last + 1)

    def in_pools(self, index: int) -> bool:
        return any(first <= index <= last for first, last in self.spans)

    def addresses(self, index: int) -> Iterator[str]:
        """The pool addresses of block `index`, in order."""
        low = self.network + index * self.size
        high = low + self.size - 1
        for start, end in self.pools:
            current, stop = max(start, low), min(end, high)
            while current <= stop:
                yield str(ipaddress.ip_address(current))
                current += 1

    def ring(self, pick: int, reserved: Iterable[int] | None = None) -> list[int]:
        """The blocks in play, from a random one on, in index order, wrapping.

        In play are every block meeting a pool (`reserved` None: an enumerable
        subnet) or the reserved ones that do. Starting at `pick` (a random
        number the caller drew: the domain draws none) makes concurrent
        creations spread over the blocks.
        """
        if reserved is None:
            in_play = list(self.indices())
        elif len(self.spans) == 1:  # one pool, as most subnets have
            first, last = self.spans[0]
            in_play = sorted({i for i in reserved if first <= i <= last})
        else:
            in_play = sorted({i for i in reserved if self.in_pools(i)})
        if not in_play:
            return []
        at = pick % len(in_play)
        return in_play[at:] + in_play[:at]

    def unreserved(self, reserved: Container[int], limit: int = BATCH) -> list[int]:
        """The first `limit` blocks meeting a pool that are not reserved yet."""
        out: list[int] = []
        for index in self.indices():  # stops after len(reserved) + limit steps
            if len(out) == limit:
                break
            if index not in reserved:
                out.append(index)
        return out


class AddressBlock(Aggregate):
    """The allocations of one block of a subnet's addresses."""

    class Created(Aggregate.Created):
        class_version = 1
        subnet_id: str
        start: str
        size: int

    @event(Created)
    def __init__(self, subnet_id: str, start: str, size: int) -> None:
        self.subnet_id = subnet_id
        self.start = start
        self.size = size
        self.allocations: dict[str, dict[str, str]] = {}
        self.closed = False

    @classmethod
    def create_id(cls, subnet_id: str, start: str, **_: Any) -> uuid.UUID:
        # Computable, so a second creator of the same block collides on the
        # primary key instead of making a twin that could hand out the same
        # addresses.
        return block_id(subnet_id, start)

    class IpAllocated(Aggregate.Event):
        class_version = 1
        ip_address: str
        port_id: str
        device_owner: str

    class IpReleased(Aggregate.Event):
        class_version = 1
        ip_address: str

    class Closed(Aggregate.Event):
        """Its subnet was deleted: written so that an allocation racing the
        deletion writes the same aggregate and one of the two is retried."""

        class_version = 1

    def _require_open(self) -> None:
        if self.closed:
            raise NeutronNotFound("subnet", self.subnet_id)

    def take_first(
        self,
        candidates: Iterable[str],
        port_id: str,
        device_owner: str,
        taken_elsewhere: Container[str] = (),
    ) -> str | None:
        """Allocate the first free candidate, or None when the block is full."""
        self._require_open()
        for address in candidates:
            if address not in self.allocations and address not in taken_elsewhere:
                self._allocate(address, port_id, device_owner)
                return address
        return None

    def take(self, address: str, port_id: str, device_owner: str) -> bool:
        """Allocate exactly `address` (a fixed IP) unless another port holds it;
        idempotent for its holder."""
        self._require_open()
        holder = self.allocations.get(address)
        if holder is not None:
            return holder["port_id"] == port_id
        self._allocate(address, port_id, device_owner)
        return True

    @event(IpAllocated)
    def _allocate(self, ip_address: str, port_id: str, device_owner: str) -> None:
        # In place: copying would make filling a block quadratic.
        self.allocations[ip_address] = {"port_id": port_id, "device_owner": device_owner}

    def holds(self, address: str, port_id: str) -> bool:
        holder = self.allocations.get(address)
        return holder is not None and holder["port_id"] == port_id

    def release(self, address: str, port_id: str) -> None:
        if self.holds(address, port_id):
            self._release(address)

    @event(IpReleased)
    def _release(self, ip_address: str) -> None:
        self.allocations.pop(ip_address, None)

    def in_use(self) -> bool:
        """Whether a port other than a DHCP server holds an address here."""
        return any(a["device_owner"] != DHCP_OWNER for a in self.allocations.values())

    def close(self) -> None:
        if not self.closed:
            self._close()

    @event(Closed)
    def _close(self) -> None:
        self.closed = True
