"""The API's listening sockets: TCP without Nagle, shared only on purpose."""

from __future__ import annotations

import asyncio
import secrets
import socket

import pytest

from runtime.serve import PortInUse, listen, spread_connections


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_accepted_connections_send_small_answers_at_once() -> None:
    """asyncio turns Nagle off only on sockets that say they are TCP; with
    Nagle on, every small answer waits for the client's delayed ACK."""
    port = _free_port()
    nodelay: list[int] = []

    async def main() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted = writer.get_extra_info("socket")
            nodelay.append(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(handle, sock=listen("127.0.0.1", port, False, True))
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            await reader.read()
            writer.close()

    asyncio.run(main())
    assert nodelay == [1]


def test_a_port_someone_listens_on_is_refused_even_to_a_sharer() -> None:
    port = _free_port()
    first = listen("127.0.0.1", port, shared=True, first=True)
    try:
        with pytest.raises(PortInUse, match=f"127.0.0.1:{port}"):
            listen("127.0.0.1", port, shared=True, first=True)
        joined = listen("127.0.0.1", port, shared=True, first=False)  # a worker
        joined.close()
    finally:
        first.close()


def test_an_unshared_port_cannot_be_joined() -> None:
    port = _free_port()
    alone = listen("127.0.0.1", port, shared=False, first=True)
    try:
        with pytest.raises(PortInUse):
            listen("127.0.0.1", port, shared=True, first=False)
    finally:
        alone.close()


def test_connections_from_ports_two_apart_go_round_the_processes() -> None:
    """What a client opening several connections at once gets from the
    kernel; the hash alone could give one process most of them."""
    port = _free_port()
    first = listen("127.0.0.1", port, shared=True, first=True)
    second = listen("127.0.0.1", port, shared=True, first=False)
    spread_connections(first, 2)
    clients: list[socket.socket] = []
    counts = []
    try:
        clients = _clients_on_ports_two_apart(8)
        for client in clients:
            client.connect(("127.0.0.1", port))
        for server in (first, second):
            server.settimeout(5)
            accepted = []
            for _ in range(4):
                accepted.append(server.accept()[0])
            server.setblocking(False)
            with pytest.raises(BlockingIOError):
                server.accept()
            counts.append(len(accepted))
            for connection in accepted:
                connection.close()
    finally:
        for client in clients:
            client.close()
        first.close()
        second.close()
    assert counts == [4, 4]


def _clients_on_ports_two_apart(count: int) -> list[socket.socket]:
    """Sockets bound to even ports two apart (as the kernel picks them for a
    client's connect()), below the ephemeral range so that no other
    connection of the test run holds one; another base when one is taken."""
    for _ in range(50):
        base = 20000 + 2 * secrets.randbelow(5000)
        clients: list[socket.socket] = []
        try:
            for index in range(count):
                client = socket.socket()
                clients.append(client)
                client.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                client.bind(("127.0.0.1", base + 2 * index))
            return clients
        except OSError:
            for client in clients:
                client.close()
    raise RuntimeError("no free run of ports two apart")
