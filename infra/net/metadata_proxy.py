"""The metadata proxy and relay: `python -m infra.net.metadata_proxy proxy|relay`.

Neutron's path, in two small processes of one program:

* `proxy` runs inside a router or DHCP namespace (`ip netns exec`), listens
  on 169.254.169.254:80 there, and forwards each request through a unix
  socket — a file in the host's filesystem, which crosses namespaces — after
  replacing the identity headers with what it knows: the caller's address
  and the router or network it serves. Whatever identity a tenant sent is
  dropped.
* `relay` runs on the host (Neutron's metadata agent), listens on that unix
  socket, signs the identity headers with the shared secret and forwards to
  the metadata API over TCP, which may be on another machine. The socket is
  root's alone, so only a proxy can hand it an identity to sign.

Both detach once listening (as dnsmasq does) and write a pid file, so the
agent finds, checks and stops them through files; a proxy also ends by
itself when its namespace is deleted under it, and the relay when the agent
that started it ends (however it ended).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from infra.metadata_signing import (
    FORWARDED_FOR,
    IDENTITY_HEADERS,
    NETWORK_ID,
    ROUTER_ID,
    SIGNATURE,
    Identity,
    sign,
)
from infra.net.http_forward import MAX_HEAD, Connect, Request, forward
from infra.net.processes import running

IP_FREEBIND = 15  # linux/in.h; the socket module does not export it
NAMESPACE_CHECK = 2.0  # seconds between checks that our namespace still exists


def _tcp_listener(address: str) -> socket.socket:
    host, _, port = address.rpartition(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Bind even before the 169.254.169.254 local route exists: the agent
    # adds it in the same pass, and the order must not matter.
    sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
    sock.bind((host, int(port)))
    sock.listen(128)
    return sock


def _unix_listener(path: Path) -> socket.socket:
    path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # root's alone: whoever can connect can get identities signed
    try:
        sock.bind(str(path))
    finally:
        os.umask(old)
    sock.listen(128)
    return sock


def _daemonize(pid_file: Path, log_file: Path) -> None:
    """Fork into the background; the parent returns to its caller only once
    the child has written its pid file, so the agent can trust the file."""
    read_end, write_end = os.pipe()
    if os.fork() > 0:
        os.close(write_end)
        os.read(read_end, 1)
        os._exit(0)
    os.close(read_end)
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    log = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.dup2(log, 2)
    tmp = pid_file.with_suffix(".tmp")
    tmp.write_text(f"{os.getpid()}\n")
    tmp.replace(pid_file)
    os.write(write_end, b"1")
    os.close(write_end)


def _same_namespace(name: str) -> bool:
    try:
        return os.stat(f"/run/netns/{name}").st_ino == os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return False


async def _serve(listener: socket.socket, connect: Connect, args: argparse.Namespace) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        address = peer[0] if isinstance(peer, tuple) else ""
        await forward((reader, writer), connect, lambda r: _rewrite(args, address, r))

    server = await asyncio.start_server(handle, sock=listener, limit=MAX_HEAD)
    async with server:
        while True:
            await asyncio.sleep(NAMESPACE_CHECK)
            if args.netns and not _same_namespace(args.netns):
                return  # our namespace was deleted: nobody can reach us any more
            if args.owner_pid and not running(args.owner_pid):
                return  # the agent that started us is gone; its successor starts its own


def _rewrite(args: argparse.Namespace, peer: str, request: Request) -> bytes:
    if args.mode == "proxy":
        kind_header = ROUTER_ID if args.router_id else NETWORK_ID
        identity = [(FORWARDED_FOR, peer), (kind_header, args.router_id or args.network_id)]
        return request.encode(IDENTITY_HEADERS, identity)
    address, router, network = (request.header(h) for h in (FORWARDED_FOR, ROUTER_ID, NETWORK_ID))
    if address is None or (router is None) == (network is None):
        # Not from a proxy: forwarded unsigned, for the API to refuse.
        return request.encode((SIGNATURE,), [])
    who = Identity(address, "router" if router else "network", router or network or "")
    return request.encode((SIGNATURE,), [(SIGNATURE, sign(args.secret, who))])


def _connector(args: argparse.Namespace) -> Connect:
    if args.mode == "proxy":
        path = args.upstream_socket

        async def to_socket() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            return await asyncio.open_unix_connection(path)

        return to_socket
    url = urlsplit(args.upstream_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80

    async def to_api() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(host, port)

    return to_api


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="metadata_proxy")
    sub = parser.add_subparsers(dest="mode", required=True)
    proxy = sub.add_parser("proxy", help="in a namespace: 169.254.169.254 -> unix socket")
    proxy.add_argument("--listen", default="169.254.169.254:80")
    proxy.add_argument("--upstream-socket", required=True)
    proxy.add_argument("--netns", default="", help="end when this namespace is deleted")
    who = proxy.add_mutually_exclusive_group(required=True)
    who.add_argument("--router-id", default="")
    who.add_argument("--network-id", default="")
    relay = sub.add_parser("relay", help="on the host: unix socket -> metadata API, signed")
    relay.add_argument("--socket", required=True)
    relay.add_argument("--upstream-url", required=True)
    relay.add_argument("--secret-file", required=True)
    relay.add_argument("--owner-pid", type=int, default=0, help="end when this process ends")
    for each in (proxy, relay):
        each.add_argument("--pid-file", required=True)
        each.add_argument("--log-file", required=True)
        each.add_argument("--foreground", action="store_true")
    args = parser.parse_args(argv)
    args.netns = getattr(args, "netns", "")
    args.owner_pid = getattr(args, "owner_pid", 0)
    if args.mode == "relay":
        args.secret = Path(args.secret_file).read_text().strip()
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    try:
        listener = (
            _tcp_listener(args.listen)
            if args.mode == "proxy"
            else _unix_listener(Path(args.socket))
        )
    except OSError as error:
        print(f"metadata {args.mode}: cannot listen: {error}", file=sys.stderr)
        return 1
    if args.foreground:
        Path(args.pid_file).write_text(f"{os.getpid()}\n")
    else:
        _daemonize(Path(args.pid_file), Path(args.log_file))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(listener, _connector(args), args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
