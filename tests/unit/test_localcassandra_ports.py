"""Port-taken detection and the raw CQL readiness probe, against sockets made in the test."""

from __future__ import annotations

import os
import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from localcassandra.errors import NodeError
from localcassandra.ports import check_ports_free, port_is_free, port_owner
from localcassandra.probe import parse_single_text, release_version


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_taken_port_is_detected_with_its_owner(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    assert not port_is_free("127.0.0.1", port)
    owner = port_owner(port)
    assert owner is not None and owner.pid == os.getpid()


def test_port_bound_on_all_interfaces_blocks_loopback() -> None:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        assert not port_is_free("127.0.0.1", s.getsockname()[1])


def test_taken_port_error_names_port_process_and_setting(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    with pytest.raises(NodeError) as err:
        check_ports_free("127.0.0.1", {"NEWS_CASSANDRA_PORT": _free_port(), "NEWS_LOCAL_STORAGE_PORT": port})
    message = str(err.value)
    assert f"Port {port}" in message and f"pid {os.getpid()}" in message
    assert "NEWS_LOCAL_STORAGE_PORT=<port>" in message


def test_free_ports_pass() -> None:
    port = _free_port()
    assert port_is_free("127.0.0.1", port)
    assert port_owner(port) is None
    check_ports_free("127.0.0.1", {"NEWS_CASSANDRA_PORT": port})


def _rows_body(value: str) -> bytes:
    """RESULT/Rows with global table spec, one text column, one row."""

    def s(text: str) -> bytes:
        return struct.pack(">H", len(text)) + text.encode()

    raw = value.encode()
    return (
        struct.pack(">iii", 2, 0x0001, 1)
        + s("system")
        + s("local")
        + s("release_version")
        + struct.pack(">H", 0x000D)
        + struct.pack(">i", 1)
        + struct.pack(">i", len(raw))
        + raw
    )


def test_rows_result_is_parsed() -> None:
    assert parse_single_text(_rows_body("5.0.9")) == "5.0.9"


def _fake_cql_server(sock: socket.socket) -> None:
    conn, _ = sock.accept()
    with conn:
        for reply_opcode, body in ((0x02, b""), (0x08, _rows_body("5.0.9"))):
            header = conn.recv(9)
            conn.recv(struct.unpack(">i", header[5:9])[0])
            conn.sendall(struct.pack(">BBhBi", 0x84, 0, header[2], reply_opcode, len(body)) + body)


def test_release_version_speaks_the_native_protocol(listener: socket.socket) -> None:
    thread = threading.Thread(target=_fake_cql_server, args=(listener,), daemon=True)
    thread.start()
    assert release_version("127.0.0.1", listener.getsockname()[1]) == "5.0.9"
    thread.join(5)


def test_release_version_is_none_when_nothing_listens() -> None:
    assert release_version("127.0.0.1", _free_port(), timeout=1) is None
