"""cassandra.yaml, logback.xml and the JVM command line of the local node, without a JVM."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from localcassandra.command import DAEMON, build_command
from localcassandra.layout import NodeLayout, check_local_settings, render_logback, render_yaml, write_config
from newsindex.errors import ConfigError
from newsindex.settings import Settings

yaml = pytest.importorskip("yaml")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        local_node_dir=tmp_path / "node with space",
        local_cache_dir=tmp_path / "cache",
        cassandra_port=19042,
        local_storage_port=17000,
        local_heap="768M",
    )


@pytest.fixture
def layout(settings: Settings) -> NodeLayout:
    return NodeLayout(settings.local_node_dir)


def test_yaml_is_a_single_loopback_node_on_the_configured_ports(layout: NodeLayout, settings: Settings) -> None:
    conf = yaml.safe_load(render_yaml(layout, settings))
    assert conf["listen_address"] == conf["rpc_address"] == "127.0.0.1"
    assert conf["native_transport_port"] == 19042
    assert conf["storage_port"] == 17000
    assert conf["seed_provider"][0]["parameters"][0]["seeds"] == "127.0.0.1:17000"
    assert conf["num_tokens"] == 1 and conf["initial_token"] == 0
    assert conf["endpoint_snitch"] == "SimpleSnitch"
    assert conf["partitioner"].endswith("Murmur3Partitioner")


def test_yaml_has_exactly_one_data_dir_because_vector_indexes_need_it(layout: NodeLayout, settings: Settings) -> None:
    conf = yaml.safe_load(render_yaml(layout, settings))
    assert conf["data_file_directories"] == [str(layout.data_dir)]
    dirs = [
        conf["commitlog_directory"],
        conf["hints_directory"],
        conf["saved_caches_directory"],
        conf["data_file_directories"][0],
    ]
    assert len(set(dirs)) == 4
    assert all(d.startswith(str(layout.root)) for d in dirs)


def test_yaml_settings_for_a_dev_node(layout: NodeLayout, settings: Settings) -> None:
    conf = yaml.safe_load(render_yaml(layout, settings))
    assert conf["commitlog_sync"] == "batch"  # nothing acknowledged is lost to kill -9 (bench.durability)
    assert conf["auto_snapshot"] is False
    assert conf["storage_compatibility_mode"] == "NONE"
    assert conf["crypto_provider"][0]["class_name"].endswith("JREProvider")
    assert conf["concurrent_compactors"] == 1


def test_periodic_commit_log_sync_stays_available(layout: NodeLayout, settings: Settings) -> None:
    conf = yaml.safe_load(render_yaml(layout, settings.with_(local_commitlog_sync="periodic")))
    assert conf["commitlog_sync"] == "periodic" and conf["commitlog_sync_period"] == "10000ms"


def test_logback_writes_system_log_under_the_node_dir(layout: NodeLayout) -> None:
    root = ET.fromstring(render_logback(layout))
    assert root.find("./appender/file").text == f"{layout.log_dir}/system.log"
    assert root.find("./root").get("level") == "INFO"
    quiet = {e.get("name"): e.get("level") for e in root.findall("./logger")}
    assert quiet["org.apache.cassandra.service.StartupChecks"] == "ERROR"


def test_write_config_creates_every_state_dir(layout: NodeLayout, settings: Settings) -> None:
    write_config(layout, settings)
    for d in (
        layout.data_dir,
        layout.commitlog_dir,
        layout.hints_dir,
        layout.saved_caches_dir,
        layout.log_dir,
        layout.tmp_dir,
        layout.triggers_dir,
    ):
        assert d.is_dir()
    assert layout.yaml_file.read_text().startswith("# Generated")


def test_command_runs_the_daemon_with_java17_flags(layout: NodeLayout, settings: Settings) -> None:
    lib = Path("/cache/5.0.9/lib")
    argv = build_command(Path("/jdk17/bin/java"), lib, lib / "jamm-0.4.0.jar", layout, settings)
    assert argv[0] == "/jdk17/bin/java" and argv[-1] == DAEMON
    assert "-Xms768M" in argv and "-Xmx768M" in argv and "-XX:+UseG1GC" in argv
    assert "-javaagent:/cache/5.0.9/lib/jamm-0.4.0.jar" in argv
    assert "--add-opens=java.base/java.lang=ALL-UNNAMED" in argv
    assert "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED" in argv
    assert f"-Dcassandra.config={layout.yaml_file.as_uri()}" in argv
    assert f"-Dcassandra.storagedir={layout.root}" in argv
    assert f"-Dlogback.configurationFile={layout.logback_file}" in argv
    assert "-Dcassandra-foreground=yes" in argv
    assert "-Dcassandra.skip_wait_for_gossip_to_settle=0" in argv
    assert f"-Djna.tmpdir={layout.tmp_dir}" in argv
    assert argv[argv.index("-cp") + 1] == f"{layout.conf_dir}:{lib}/*"


def test_config_uri_escapes_spaces(layout: NodeLayout, settings: Settings) -> None:
    argv = build_command(Path("java"), Path("lib"), Path("lib/jamm.jar"), layout, settings)
    config = next(a for a in argv if a.startswith("-Dcassandra.config="))
    assert "node%20with%20space" in config


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"cassandra_hosts": ("10.0.0.5",)}, "NEWS_CASSANDRA_HOSTS"),
        ({"local_heap": "lots"}, "NEWS_LOCAL_HEAP"),
        ({"cassandra_version": "4.1.5"}, "NEWS_CASSANDRA_VERSION"),
        ({"cassandra_port": 80}, "NEWS_CASSANDRA_PORT"),
        ({"local_storage_port": 19042}, "must differ"),
    ],
)
def test_settings_the_local_node_cannot_honour_are_refused(
    settings: Settings, changes: dict[str, object], needle: str
) -> None:
    with pytest.raises(ConfigError, match=needle):
        check_local_settings(settings.with_(**changes))
