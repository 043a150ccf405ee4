"""Where the node's state lives, and the two config files rendered into it.

Everything under `local_node_dir` belongs to one node; jars live apart in the shared cache.
The config is rewritten on every start so a changed setting (port, heap) always takes effect.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from localcassandra.topology import LOCAL_DC, LOCAL_HOST, LOCAL_RACK, Member
from newsindex.errors import ConfigError
from newsindex.settings import Settings

_HEAP = re.compile(r"^[1-9][0-9]*[mMgG]$")
_VERSION = re.compile(r"^5\.0\.[0-9]+$")


@dataclass(frozen=True)
class NodeLayout:
    """Paths of one node's state directory."""

    root: Path

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def commitlog_dir(self) -> Path:
        return self.root / "commitlog"

    @property
    def hints_dir(self) -> Path:
        return self.root / "hints"

    @property
    def saved_caches_dir(self) -> Path:
        return self.root / "saved_caches"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def conf_dir(self) -> Path:
        return self.root / "conf"

    @property
    def tmp_dir(self) -> Path:
        """JNA unpacks natives here; /tmp may be noexec."""
        return self.root / "tmp"

    @property
    def triggers_dir(self) -> Path:
        """Cassandra warns every minute when its trigger dir is missing."""
        return self.root / "triggers"

    @property
    def pid_file(self) -> Path:
        return self.root / "cassandra.pid"

    @property
    def lock_file(self) -> Path:
        return self.root / ".start.lock"

    @property
    def system_log(self) -> Path:
        return self.log_dir / "system.log"

    @property
    def stdout_log(self) -> Path:
        return self.log_dir / "stdout.log"

    @property
    def yaml_file(self) -> Path:
        return self.conf_dir / "cassandra.yaml"

    @property
    def logback_file(self) -> Path:
        return self.conf_dir / "logback.xml"

    @property
    def rackdc_file(self) -> Path:
        """dc and rack of a cluster node (GossipingPropertyFileSnitch reads it from the classpath)."""
        return self.conf_dir / "cassandra-rackdc.properties"

    def make_dirs(self) -> None:
        for d in (
            self.data_dir,
            self.commitlog_dir,
            self.hints_dir,
            self.saved_caches_dir,
            self.log_dir,
            self.conf_dir,
            self.tmp_dir,
            self.triggers_dir,
        ):
            d.mkdir(parents=True, exist_ok=True)


def layout_for(settings: Settings, member: Member | None = None) -> NodeLayout:
    """The single node's state is NEWS_LOCAL_NODE_DIR itself; cluster node i's is its `node<i>/`."""
    return NodeLayout((member or Member()).root(settings.local_node_dir.expanduser().absolute()))


def check_local_settings(settings: Settings) -> None:
    """Refuse settings the local node cannot honour, before anything is started or downloaded."""
    host = settings.cassandra_hosts[0] if settings.cassandra_hosts else ""
    if host != LOCAL_HOST:
        raise ConfigError(
            f"the local node listens on {LOCAL_HOST} only, but NEWS_CASSANDRA_HOSTS starts with {host!r}; "
            f"set NEWS_CASSANDRA_HOSTS={LOCAL_HOST} (or unset it) to use `news-search db`"
        )
    if settings.db_mode != "local":
        raise ConfigError("NEWS_DB_MODE is 'astra'; `news-search db` manages only the local node")
    if not _HEAP.match(settings.local_heap):
        raise ConfigError(f"NEWS_LOCAL_HEAP={settings.local_heap!r} is not a JVM size; use e.g. 1G or 1536M")
    if not _VERSION.match(settings.cassandra_version):
        raise ConfigError(
            f"NEWS_CASSANDRA_VERSION={settings.cassandra_version!r} is not a 5.0.x release; "
            "the JVM flags and yaml here are for Cassandra 5.0 (e.g. 5.0.9)"
        )
    ports = {"NEWS_CASSANDRA_PORT": settings.cassandra_port, "NEWS_LOCAL_STORAGE_PORT": settings.local_storage_port}
    for name, port in ports.items():
        if not 1024 <= port <= 65535:
            raise ConfigError(f"{name}={port} must be between 1024 and 65535")
    if settings.cassandra_port == settings.local_storage_port:
        raise ConfigError("NEWS_CASSANDRA_PORT and NEWS_LOCAL_STORAGE_PORT must differ")


def check_cluster_ports(settings: Settings, nodes: int) -> None:
    """Cluster nodes also take NEWS_LOCAL_JMX_PORT .. + nodes - 1 on 127.0.0.1 (nodetool)."""
    first, last = settings.local_jmx_port, settings.local_jmx_port + nodes - 1
    if not (first >= 1024 and last <= 65535):
        raise ConfigError(f"NEWS_LOCAL_JMX_PORT={first} must leave {nodes} ports between 1024 and 65535")
    if {settings.cassandra_port, settings.local_storage_port} & set(range(first, last + 1)):
        raise ConfigError(
            f"NEWS_LOCAL_JMX_PORT={first} (node i takes {first} + i - 1) overlaps NEWS_CASSANDRA_PORT or "
            "NEWS_LOCAL_STORAGE_PORT; pick another"
        )


def _template(name: str) -> Template:
    return Template(resources.files("localcassandra").joinpath("templates", name).read_text("utf-8"))


def render_yaml(layout: NodeLayout, settings: Settings, member: Member | None = None) -> str:
    """A single node (SimpleSnitch, token 0), or a cluster node: GossipingPropertyFileSnitch in dc1,
    node 1 as the seed, one evenly spaced token each and no bootstrap streaming (a new cluster has
    nothing to stream; a restarted node keeps the tokens it saved)."""
    member = member or Member()
    seed = Member(1, member.nodes)
    return _template("cassandra.yaml").substitute(
        cluster_name="news-search-cluster" if member.in_cluster else "news-search-local",
        endpoint_snitch="GossipingPropertyFileSnitch" if member.in_cluster else "SimpleSnitch",
        initial_token=member.initial_token,
        auto_bootstrap="false" if member.in_cluster else "true",
        seeds=f"{seed.address}:{settings.local_storage_port}",
        listen_address=member.address,
        storage_port=settings.local_storage_port,
        native_port=settings.cassandra_port,
        data_dir=_quoted(layout.data_dir),
        commitlog_dir=_quoted(layout.commitlog_dir),
        hints_dir=_quoted(layout.hints_dir),
        saved_caches_dir=_quoted(layout.saved_caches_dir),
        concurrent_writes=concurrent_writes(),
        commitlog_sync=commitlog_sync_yaml(settings.local_commitlog_sync),
    )


COMMITLOG_MODES = {
    # fsync every 10 s, acknowledge at once: a power cut loses up to 10 s of acknowledged writes.
    "periodic": "commitlog_sync: periodic\ncommitlog_sync_period: 10000ms",
    # acknowledge after the fsync of a group of writes made within 15 ms: acknowledged means on disk.
    "group": "commitlog_sync: group\ncommitlog_sync_group_window: 15ms",
    # acknowledge after an fsync per batch of writes: the strictest, and the slowest on small disks.
    "batch": "commitlog_sync: batch",
}


def commitlog_sync_yaml(mode: str) -> str:
    return COMMITLOG_MODES[mode]


def concurrent_writes(cores: int | None = None) -> int:
    """Mutation threads: at most the core count (and 8), to stay under jvector's pool limit (CASSANDRA-21644)."""
    return max(2, min(cores or os.cpu_count() or 2, 8))


def _quoted(path: Path) -> str:
    """A YAML double-quoted scalar (JSON is valid YAML), safe for any path."""
    return json.dumps(str(path))


def render_logback(layout: NodeLayout) -> str:
    return _template("logback.xml").substitute(log_dir=layout.log_dir)


def render_rackdc() -> str:
    return f"# Generated by `news-search db start`.\ndc={LOCAL_DC}\nrack={LOCAL_RACK}\n"


def write_config(layout: NodeLayout, settings: Settings, member: Member | None = None) -> None:
    layout.make_dirs()
    layout.yaml_file.write_text(render_yaml(layout, settings, member), encoding="utf-8")
    layout.logback_file.write_text(render_logback(layout), encoding="utf-8")
    if member is not None and member.in_cluster:
        layout.rackdc_file.write_text(render_rackdc(), encoding="utf-8")
