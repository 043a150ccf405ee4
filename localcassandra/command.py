"""The JVM command line of the node: what bin/cassandra and conf/jvm17-server.options would build.

Pure: paths in, argv out, so the exact line is unit-tested and printed by `db start --dry-run`.
"""

from __future__ import annotations

from pathlib import Path

from localcassandra.layout import NodeLayout
from localcassandra.topology import LOCAL_HOST, Member
from newsindex.settings import Settings

DAEMON = "org.apache.cassandra.service.CassandraDaemon"

# conf/jvm17-server.options of Cassandra 5.0: without them Java 17 refuses reflective access at boot.
ADD_EXPORTS = [
    "java.base/jdk.internal.misc",
    "java.management.rmi/com.sun.jmx.remote.internal.rmi",
    "java.rmi/sun.rmi.registry",
    "java.rmi/sun.rmi.server",
    "java.sql/java.sql",
    "java.base/java.lang.ref",
    "jdk.unsupported/sun.misc",
    "jdk.compiler/com.sun.tools.javac.file",
    "jdk.attach/sun.tools.attach",
]
ADD_OPENS = [
    "java.base/java.lang.module",
    "java.base/jdk.internal.loader",
    "java.base/jdk.internal.ref",
    "java.base/jdk.internal.reflect",
    "java.base/jdk.internal.math",
    "java.base/jdk.internal.module",
    "java.base/jdk.internal.util.jar",
    "jdk.management/com.sun.management.internal",
    "java.base/sun.nio.ch",
    "java.base/java.io",
    "java.base/java.lang.reflect",
    "jdk.compiler/com.sun.tools.javac",
    "java.base/java.lang",
    "java.base/java.util",
]

# G1 as 5.0 configures it; heap fixed so the node never grows past NEWS_LOCAL_HEAP.
GC_FLAGS = [
    "-XX:+UseG1GC",
    "-XX:+ParallelRefProcEnabled",
    "-XX:MaxTenuringThreshold=1",
    "-XX:MaxGCPauseMillis=300",
    "-XX:InitiatingHeapOccupancyPercent=70",
]
SERVER_FLAGS = [
    "-Xss256k",
    "-XX:+UseThreadPriorities",
    "-XX:+HeapDumpOnOutOfMemoryError",
    "-XX:+PerfDisableSharedMem",
    "-Djava.net.preferIPv4Stack=true",
    "-Djdk.attach.allowAttachSelf=true",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dio.netty.allocator.useCacheForAllThreads=true",
    "-Dio.netty.allocator.maxOrder=11",
    "-Dchronicle.announcer.disable=true",
    "-Dchronicle.analytics.disable=true",
]


def jpms_flags() -> list[str]:
    return [f"--add-exports={m}=ALL-UNNAMED" for m in ADD_EXPORTS] + [f"--add-opens={m}=ALL-UNNAMED" for m in ADD_OPENS]


def cluster_flags(member: Member, settings: Settings) -> list[str]:
    """A single node has no peers to tell it is leaving and needs no JMX; a cluster node gets both.

    JMX listens on 127.0.0.1 only, without authentication (Cassandra's `local` JMX mode), for nodetool.
    """
    jmx = member.jmx_port(settings.local_jmx_port)
    if jmx is None:
        return ["-Dcassandra.shutdown_announce_in_ms=0"]  # no peers to tell; saves 2 s on stop
    return [
        f"-Dcassandra.jmx.local.port={jmx}",
        "-Dcom.sun.management.jmxremote.authenticate=false",
        f"-Djava.rmi.server.hostname={LOCAL_HOST}",
    ]


def build_command(
    java: Path, lib_dir: Path, jamm: Path, layout: NodeLayout, settings: Settings, member: Member | None = None
) -> list[str]:
    """argv of the daemon; yaml and logback.xml must already be written by `write_config`."""
    heap = settings.local_heap
    return [
        str(java),
        f"-Xms{heap}",
        f"-Xmx{heap}",
        *GC_FLAGS,
        *SERVER_FLAGS,
        f"-XX:HeapDumpPath={layout.log_dir}",
        *jpms_flags(),
        f"-javaagent:{jamm}",
        f"-Dcassandra.config={layout.yaml_file.as_uri()}",
        f"-Dcassandra.storagedir={layout.root}",
        f"-Dcassandra.logdir={layout.log_dir}",
        f"-Dlogback.configurationFile={layout.logback_file}",
        "-Dcassandra-foreground=yes",  # otherwise the daemon closes stdout/stderr
        "-Dcassandra.skip_wait_for_gossip_to_settle=0",  # loopback peers settle at once; saves ~8 s
        *cluster_flags(member or Member(), settings),
        f"-Dcassandra.triggers_dir={layout.triggers_dir}",
        f"-Djava.io.tmpdir={layout.tmp_dir}",
        f"-Djna.tmpdir={layout.tmp_dir}",
        "-cp",
        f"{layout.conf_dir}:{lib_dir}/*",
        DAEMON,
    ]
