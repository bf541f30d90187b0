"""The kernel's TCP socket table (/proc/net/tcp and tcp6), for tests that look at who listens or
holds a connection on a port."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

LISTEN, ESTABLISHED = "0A", "01"  # the table's state codes


def tcp_sockets(port: int, state: str) -> Iterator[tuple[str, str]]:
    """(local address, socket inode) of every socket on local ``port`` in ``state``."""
    for family in ("tcp", "tcp6"):
        path = Path(f"/proc/net/{family}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] == state and int(port_hex, 16) == port:
                yield _address(family, address), fields[9]


def _address(family: str, hex_address: str) -> str:
    if family == "tcp":  # little-endian hex IPv4
        return socket.inet_ntop(socket.AF_INET, bytes.fromhex(hex_address)[::-1])
    words = [bytes.fromhex(hex_address[i : i + 8])[::-1] for i in range(0, 32, 8)]
    return socket.inet_ntop(socket.AF_INET6, b"".join(words))
