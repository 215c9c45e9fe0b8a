"""A minimal DHCPv6 client for dataplane tests: one Solicit, the addresses offered.

No DHCPv6 client is installed here (busybox lacks udhcpc6), and the test
only needs to know which address a server offers a MAC, so this sends a
Solicit (client id DUID-LL from the MAC, one IA_NA) from port 546 and
prints, one per line, "server-link-local address" for each Advertise or
Reply that carries an IA address, until the timeout. Run it inside the
instance's namespace: `python -m tests.support.dhcpv6_probe eth0 MAC`.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import time

SOLICIT, ADVERTISE, REPLY = 1, 2, 7
CLIENTID, IA_NA, IAADDR, ELAPSED, RAPID = 1, 3, 5, 8, 14
ALL_SERVERS = "ff02::1:2"


def _option(code: int, data: bytes) -> bytes:
    return struct.pack("!HH", code, len(data)) + data


def solicit(mac: str, transaction: bytes) -> bytes:
    duid = struct.pack("!HH", 3, 1) + bytes(int(p, 16) for p in mac.split(":"))
    body = _option(CLIENTID, duid)
    body += _option(IA_NA, struct.pack("!III", 1, 0, 0))
    body += _option(ELAPSED, struct.pack("!H", 0))
    return bytes([SOLICIT]) + transaction + body


def _options(data: bytes) -> list[tuple[int, bytes]]:
    out = []
    while len(data) >= 4:
        code, length = struct.unpack("!HH", data[:4])
        out.append((code, data[4 : 4 + length]))
        data = data[4 + length :]
    return out


def offered(packet: bytes, transaction: bytes) -> list[str]:
    if len(packet) < 4 or packet[0] not in (ADVERTISE, REPLY) or packet[1:4] != transaction:
        return []
    found = []
    for code, data in _options(packet[4:]):
        if code == IA_NA:
            for inner, value in _options(data[12:]):
                if inner == IAADDR and len(value) >= 16:
                    found.append(socket.inet_ntop(socket.AF_INET6, value[:16]))
    return found


def main(interface: str, mac: str, timeout: float = 8.0) -> int:
    index = socket.if_nametoindex(interface)
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
    sock.bind(("::", 546, 0, index))
    sock.settimeout(0.5)
    transaction = os.urandom(3)
    deadline = time.monotonic() + timeout
    next_send = 0.0
    answered = False
    while time.monotonic() < deadline and not answered:
        if time.monotonic() >= next_send:
            sock.sendto(solicit(mac, transaction), (ALL_SERVERS, 547, 0, index))
            next_send = time.monotonic() + 1.0
        try:
            packet, sender = sock.recvfrom(2048)
        except TimeoutError:
            continue
        for address in offered(packet, transaction):
            print(sender[0].split("%")[0], address, flush=True)
            answered = True
    # Late answers from a second server would show here too: wait a little.
    end = time.monotonic() + 1.0
    while answered and time.monotonic() < end:
        try:
            packet, sender = sock.recvfrom(2048)
        except TimeoutError:
            continue
        for address in offered(packet, transaction):
            print(sender[0].split("%")[0], address, flush=True)
    return 0 if answered else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
