"""Is a TCP port free on loopback, and if not, who holds it (read from /proc, Linux only)."""

from __future__ import annotations

import errno
import random
import socket
from dataclasses import dataclass
from pathlib import Path

from localcassandra.errors import NodeError

_LISTEN = "0A"
PROC = Path("/proc")


@dataclass(frozen=True)
class PortOwner:
    """The process listening on a port; pid is None when /proc does not tell."""

    pid: int | None
    command: str

    def describe(self) -> str:
        if self.pid is None:
            return "another process (run `ss -ltnp` to see which)"
        return f"pid {self.pid} ({self.command})"


def free_port() -> int:
    """A free loopback port below the ephemeral range, so no client connection can take it before a node binds it."""
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randint(20000, 32000)
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 32000")


def port_is_free(host: str, port: int) -> bool:
    """True if we could bind it now, the way Cassandra will (SO_REUSEADDR, so TIME_WAIT is fine)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def _listening_inodes(port: int, proc: Path = PROC) -> set[str]:
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def _command_of(pid: int, proc: Path = PROC) -> str:
    try:
        args = (proc / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return "unknown command"
    argv = [a.decode("utf-8", "replace") for a in args if a]
    if any(a == "org.apache.cassandra.service.CassandraDaemon" for a in argv):
        storage = next((a.split("=", 1)[1] for a in argv if a.startswith("-Dcassandra.storagedir=")), "?")
        return f"a Cassandra node whose state dir is {storage}"
    text = " ".join(" ".join(argv).split())  # one line, even for `python -c "..."`
    return text if len(text) <= 120 else text[:117] + "..."


def port_owner(port: int, proc: Path = PROC) -> PortOwner | None:
    """Who listens on `port` (any address), or None if nobody does."""
    inodes = _listening_inodes(port, proc)
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for pid_dir in proc.iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            fds = list((pid_dir / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if str(fd.readlink()) in targets:
                    pid = int(pid_dir.name)
                    return PortOwner(pid, _command_of(pid, proc))
            except OSError:
                continue
    return PortOwner(None, "")


def check_ports_free(host: str, ports: dict[str, int]) -> None:
    """Raise a NodeError naming the port, its holder and the setting to change, for the first taken one."""
    for setting, port in ports.items():
        try:
            if port_is_free(host, port):
                continue
        except OSError as exc:
            if exc.errno != errno.EADDRNOTAVAIL:
                raise
            raise NodeError(
                f"{host} is not an address of this machine, so a local node cannot listen on it. Linux routes "
                f"all of 127.0.0.0/8 to loopback; elsewhere add it first (macOS: `sudo ifconfig lo0 alias {host} up`)."
            ) from None
        owner = port_owner(port) or PortOwner(None, "")
        clients = " (clients read the same setting)" if setting == "NEWS_CASSANDRA_PORT" else ""
        raise NodeError(
            f"Port {port} on {host} ({setting}) is already taken by {owner.describe()}, so the local "
            f"Cassandra node cannot start. Stop that process, or pick a free port with {setting}=<port> "
            f"in .env or the environment{clients}."
        )
