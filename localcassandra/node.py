"""`LocalNode`: start, stop and inspect one Cassandra 5.0 node that runs from Maven jars.

The node is a detached JVM (its own session) so it outlives the CLI; the pid file plus a check of
the process's command line tell whether it is still ours. All waiting is bounded.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from localcassandra import process
from localcassandra.command import build_command
from localcassandra.errors import LogExcerpt, NodeError, tail_lines
from localcassandra.jars import Jars, ensure_jars, find_jamm, is_complete, lib_dir_for
from localcassandra.java import find_java
from localcassandra.layout import check_cluster_ports, check_local_settings, layout_for, write_config
from localcassandra.ports import check_ports_free, port_owner
from localcassandra.probe import release_version
from localcassandra.topology import LOCAL_HOST, Member
from newsindex.settings import Settings

Progress = Callable[[str], None]
POLL_S = 0.5
LOG_TAIL = 20


@dataclass(frozen=True)
class StartResult:
    pid: int
    version: str
    seconds: float
    already_running: bool
    jars_downloaded: bool
    address: str
    log_path: Path


@dataclass(frozen=True)
class StopResult:
    was_running: bool
    pid: int | None
    seconds: float
    killed: bool


@dataclass(frozen=True)
class NodeStatus:
    running: bool
    pid: int | None
    cql_up: bool
    version: str | None
    address: str
    node_dir: Path
    log_path: Path
    data_bytes: int
    rss_bytes: int | None
    note: str = ""


class LocalNode:
    """One local node, fully described by `settings` (ports, dirs, heap, version, Java) and its place
    `member` in the local topology (the single node by default, or node i of a local cluster)."""

    def __init__(
        self,
        settings: Settings,
        env: Mapping[str, str] | None = None,
        progress: Progress | None = None,
        member: Member | None = None,
    ) -> None:
        self.settings = settings
        self.member = member or Member()
        self.layout = layout_for(settings, self.member)
        self.host = self.member.address
        self.port = settings.cassandra_port
        self.address = f"{self.host}:{self.port}"
        self._env = os.environ if env is None else env
        self._progress = progress or (lambda _msg: None)
        self._proc: subprocess.Popen[bytes] | None = None

    # --- queries ---------------------------------------------------------------------------
    def pid(self) -> int | None:
        """Pid of this node's JVM if it runs (pid file first, then a /proc scan)."""
        root = self.layout.root
        with contextlib.suppress(OSError, ValueError):
            pid = int(self.layout.pid_file.read_text().strip())
            if process.is_node_of(pid, root):
                return pid
        return process.find_node(root) if root.exists() else None

    def status(self) -> NodeStatus:
        pid = self.pid()
        version = release_version(self.host, self.port)
        note = ""
        if pid is None and version:
            owner = port_owner(self.port)
            who = owner.describe() if owner else "another process"
            note = f"no node from {self.layout.root} runs, but {who} answers CQL on {self.address}"
        elif pid is not None and not version:
            note = "the JVM runs but CQL does not answer yet (starting, or stuck: see the log)"
        return NodeStatus(
            running=pid is not None,
            pid=pid,
            cql_up=bool(version) and pid is not None,
            version=version if pid is not None else None,
            address=self.address,
            node_dir=self.layout.root,
            log_path=self.layout.system_log,
            data_bytes=_tree_size(self.layout.data_dir),
            rss_bytes=process.rss_bytes(pid) if pid else None,
            note=note,
        )

    def log_tail(self, lines: int = 50) -> list[str]:
        return tail_lines(self.layout.system_log, lines)

    def command(self) -> list[str]:
        """The JVM argv `start` would run (jar paths are placeholders until they are resolved)."""
        check_local_settings(self.settings)
        java = find_java(self.settings.java_home, self._env)
        lib = lib_dir_for(self.settings.local_cache_dir, self.settings.cassandra_version)
        jamm = find_jamm(lib) if is_complete(lib) else lib / "jamm-<version>.jar"
        return build_command(java.binary, lib, jamm, self.layout, self.settings, self.member)

    # --- actions ---------------------------------------------------------------------------
    def start(self, timeout_s: float | None = None) -> StartResult:
        """Start the node and wait until CQL answers; a running node is left alone."""
        started = time.monotonic()
        timeout = self.settings.start_timeout_s if timeout_s is None else timeout_s
        check_local_settings(self.settings)
        try:
            return self._start(started, timeout)
        except OSError as exc:
            raise NodeError(
                f"Cannot prepare the local node: {exc}. Check that NEWS_LOCAL_NODE_DIR "
                f"({self.layout.root}) and NEWS_LOCAL_CACHE_DIR "
                f"({self.settings.local_cache_dir}) are writable."
            ) from None

    def _start(self, started: float, timeout: float) -> StartResult:
        self.layout.root.mkdir(parents=True, exist_ok=True)
        with _locked(self.layout.lock_file):
            pid = self.pid()
            if pid is not None:
                version = release_version(self.host, self.port)
                if version:
                    return self._result(pid, version, 0.0, already=True, jars=False)
                self._progress(f"The node (pid {pid}) is already starting; waiting for CQL on {self.address}")
                return self._wait(pid, started, timeout, log_offset=0, jars=False)
            java = find_java(self.settings.java_home, self._env)
            self.check_ports()
            jars = ensure_jars(self.settings.local_cache_dir, self.settings.cassandra_version, java, self._progress)
            pid, offset = self._launch(java.binary, jars)
            self._progress(
                f"Started Cassandra {jars.version} (pid {pid}, Java {java.version}); waiting for "
                f"CQL on {self.address}. Log: {self.layout.system_log}"
            )
            return self._wait(pid, started, timeout, log_offset=offset, jars=jars.downloaded)

    def check_ports(self) -> None:
        """CQL and storage ports on this node's address, and its JMX port (cluster nodes) on 127.0.0.1."""
        check_ports_free(
            self.host,
            {"NEWS_CASSANDRA_PORT": self.port, "NEWS_LOCAL_STORAGE_PORT": self.settings.local_storage_port},
        )
        jmx = self.member.jmx_port(self.settings.local_jmx_port)
        if jmx is not None:
            check_cluster_ports(self.settings, self.member.nodes)
            check_ports_free(LOCAL_HOST, {"NEWS_LOCAL_JMX_PORT": jmx})

    def kill(self) -> int | None:
        """SIGKILL the node's JVM at once, no drain (fault tests); returns the pid it killed."""
        pid = self.pid()
        if pid is not None:
            process.kill_now(pid)
        return pid

    def stop(self, timeout_s: float = 60.0) -> StopResult:
        """SIGTERM and wait (Cassandra flushes memtables on the way out), SIGKILL past the timeout."""
        started = time.monotonic()
        pid = self.pid()
        if pid is None:
            self.layout.pid_file.unlink(missing_ok=True)
            return StopResult(was_running=False, pid=None, seconds=0.0, killed=False)
        try:
            killed = process.terminate(pid, timeout_s)
        except PermissionError:
            raise NodeError(
                f"Not allowed to signal the node (pid {pid}); it was started by another user. "
                f"Stop it as that user, or run `kill {pid}` with enough rights."
            ) from None
        if self._proc is not None and self._proc.pid == pid:
            self._proc.wait(timeout=5)
        self.layout.pid_file.unlink(missing_ok=True)
        return StopResult(was_running=True, pid=pid, seconds=time.monotonic() - started, killed=killed)

    def reset(self) -> StopResult:
        """Stop the node and delete its whole state dir (data, logs, config); jars stay cached."""
        root = self.layout.root
        if root in {Path("/"), Path.home()} or (
            root.exists() and any(root.iterdir()) and not self.layout.conf_dir.exists()
        ):
            raise NodeError(
                f"Refusing to delete {root}: it does not look like a node state dir "
                "(no conf/ inside). Check NEWS_LOCAL_NODE_DIR."
            )
        stopped = self.stop()
        shutil.rmtree(root, ignore_errors=True)
        return stopped

    # --- internals -------------------------------------------------------------------------
    def _launch(self, java: Path, jars: Jars) -> tuple[int, int]:
        layout = self.layout
        write_config(layout, self.settings, self.member)
        argv = build_command(java, jars.lib_dir, jars.jamm, layout, self.settings, self.member)
        offset = layout.system_log.stat().st_size if layout.system_log.exists() else 0
        if layout.stdout_log.exists():
            layout.stdout_log.replace(layout.stdout_log.with_suffix(".log.1"))
        with open(layout.stdout_log, "wb") as out:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=layout.root,
                start_new_session=True,
            )
        layout.pid_file.write_text(f"{self._proc.pid}\n")
        return self._proc.pid, offset

    def _wait(self, pid: int, started: float, timeout: float, log_offset: int, jars: bool) -> StartResult:
        deadline = started + timeout
        while True:
            if not self._running(pid):
                self.layout.pid_file.unlink(missing_ok=True)
                code = self._proc.returncode if self._proc is not None and self._proc.pid == pid else None
                exit_note = f" (exit code {code})" if code is not None else ""
                raise NodeError(
                    f"The Cassandra node died while starting{exit_note}. The log lines below usually name "
                    f"the cause; the full log is {self.layout.system_log}, JVM output is in "
                    f"{self.layout.stdout_log}. Fix the cause (or `news-search db reset --yes` for a broken "
                    f"dev node) and run `news-search db start` again.",
                    self._excerpts(log_offset),
                )
            version = release_version(self.host, self.port)
            if version:
                return self._result(pid, version, time.monotonic() - started, already=False, jars=jars)
            if time.monotonic() >= deadline:
                raise NodeError(
                    f"Cassandra did not answer CQL on {self.address} within {timeout:.0f} s. It is left "
                    f"running (pid {pid}) in case it is only slow: run `news-search db start` again to keep "
                    f"waiting, `news-search db stop` to give up, or raise NEWS_START_TIMEOUT_S. Full log: "
                    f"{self.layout.system_log}.",
                    self._excerpts(log_offset),
                )
            time.sleep(POLL_S)

    def _running(self, pid: int) -> bool:
        if self._proc is not None and self._proc.pid == pid:
            return self._proc.poll() is None
        return process.is_alive(pid)

    def _excerpts(self, offset: int) -> list[LogExcerpt]:
        system = tail_lines(self.layout.system_log, LOG_TAIL, offset, readable=True)
        stdout = tail_lines(self.layout.stdout_log, LOG_TAIL // 2, readable=True)
        return [LogExcerpt(self.layout.system_log, system), LogExcerpt(self.layout.stdout_log, stdout)]

    def _result(self, pid: int, version: str, seconds: float, already: bool, jars: bool) -> StartResult:
        return StartResult(
            pid=pid,
            version=version,
            seconds=seconds,
            already_running=already,
            jars_downloaded=jars,
            address=self.address,
            log_path=self.layout.system_log,
        )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise concurrent `start`s on one state dir: the second one then finds the node running."""
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _tree_size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total
