"""Ask a node for `release_version` over the CQL native protocol (v4), with a raw socket.

Used to poll a starting node every half second: no driver import, no driver log noise, no
connection pool, and a clear None while the node is not ready yet.
"""

from __future__ import annotations

import socket
import struct

_VERSION, _STARTUP, _READY, _QUERY, _RESULT, _ERROR = 0x04, 0x01, 0x02, 0x07, 0x08, 0x00
_ROWS, _GLOBAL_TABLES_SPEC, _CONSISTENCY_ONE = 2, 0x0001, 0x0001
QUERY = "SELECT release_version FROM system.local"


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">H", len(raw)) + raw


def frame(opcode: int, body: bytes, stream: int = 0) -> bytes:
    return struct.pack(">BBhBi", _VERSION, 0, stream, opcode, len(body)) + body


def startup_frame() -> bytes:
    return frame(_STARTUP, struct.pack(">H", 1) + _string("CQL_VERSION") + _string("3.0.0"))


def query_frame(cql: str) -> bytes:
    raw = cql.encode()
    return frame(_QUERY, struct.pack(">i", len(raw)) + raw + struct.pack(">HB", _CONSISTENCY_ONE, 0), 1)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
    return data


def _read_frame(sock: socket.socket) -> tuple[int, bytes]:
    _version, _flags, _stream, opcode, length = struct.unpack(">BBhBi", _recv_exact(sock, 9))
    return opcode, _recv_exact(sock, length)


class _Reader:
    def __init__(self, body: bytes) -> None:
        self.body, self.pos = body, 0

    def take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.body, self.pos)
        self.pos += struct.calcsize(fmt)
        return int(value)

    def string(self) -> str:
        size = self.take(">H")
        self.pos += size
        return self.body[self.pos - size : self.pos].decode()

    def skip_strings(self, count: int) -> None:
        for _ in range(count):
            self.string()

    def bytes_(self) -> bytes | None:
        size = self.take(">i")
        if size < 0:
            return None
        self.pos += size
        return self.body[self.pos - size : self.pos]


def parse_single_text(body: bytes) -> str | None:
    """First column of the first row of a RESULT/Rows body holding text columns."""
    r = _Reader(body)
    if r.take(">i") != _ROWS:
        return None
    flags, columns = r.take(">i"), r.take(">i")
    global_spec = bool(flags & _GLOBAL_TABLES_SPEC)
    if global_spec:
        r.skip_strings(2)  # keyspace, table
    for _ in range(columns):
        r.skip_strings(1 if global_spec else 3)  # [keyspace, table,] column name
        r.take(">H")  # type id; text/varchar need no further options
    if r.take(">i") < 1:
        return None
    cell = r.bytes_()
    return cell.decode() if cell is not None else None


def release_version(host: str, port: int, timeout: float = 3.0) -> str | None:
    """The node's release_version, or None if it does not answer CQL (yet)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(startup_frame())
            opcode, _ = _read_frame(sock)
            if opcode != _READY:  # e.g. AUTHENTICATE: someone else's node with auth on
                return None
            sock.sendall(query_frame(QUERY))
            opcode, body = _read_frame(sock)
            return parse_single_text(body) if opcode == _RESULT else None
    except (OSError, ConnectionError, struct.error):
        return None
