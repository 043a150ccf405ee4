"""The local cluster's topology, config, JVM flags, nodetool parsing and `db` commands, without a JVM."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from localcassandra.cli import db
from localcassandra.cluster import LocalCluster
from localcassandra.command import build_command
from localcassandra.errors import NodeError
from localcassandra.layout import check_cluster_ports, layout_for, render_yaml, write_config
from localcassandra.nodetool import RingEntry, parse_status
from localcassandra.topology import Member, contact_points, members, record_nodes, replication_for, resolve_nodes
from newsindex.errors import ConfigError
from newsindex.settings import Settings

yaml = pytest.importorskip("yaml")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        local_node_dir=tmp_path / "state",
        local_cache_dir=tmp_path / "cache",
        cassandra_port=19042,
        local_storage_port=17000,
        local_jmx_port=17199,
        local_heap="768M",
    )


def test_three_members_sit_on_their_own_loopback_addresses_and_subdirectories(tmp_path: Path) -> None:
    nodes = members(3)
    assert [m.address for m in nodes] == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    assert [m.root(tmp_path) for m in nodes] == [tmp_path / "node1", tmp_path / "node2", tmp_path / "node3"]
    assert [m.is_seed for m in nodes] == [True, False, False]
    assert Member().root(tmp_path) == tmp_path and Member().address == "127.0.0.1"


def test_cluster_tokens_split_the_ring_evenly_and_the_single_node_keeps_token_0() -> None:
    tokens = [m.initial_token for m in members(3)]
    assert tokens[0] == -(2**63)
    assert tokens[1] - tokens[0] == tokens[2] - tokens[1] == 2**64 // 3
    assert all(-(2**63) <= t < 2**63 for t in tokens)
    assert Member().initial_token == 0


def test_only_cluster_nodes_get_jmx_ports_one_each() -> None:
    assert [m.jmx_port(7199) for m in members(3)] == [7199, 7200, 7201]
    assert Member().jmx_port(7199) is None


def test_product_settings_for_a_local_cluster() -> None:
    assert contact_points(3) == "127.0.0.1,127.0.0.2,127.0.0.3"
    assert replication_for(3) == "{'class': 'NetworkTopologyStrategy', 'dc1': 3}"
    assert "SimpleStrategy" in replication_for(1)


def test_cluster_node_yaml_joins_dc1_through_the_seed(settings: Settings) -> None:
    member = Member(2, 3)
    conf = yaml.safe_load(render_yaml(layout_for(settings, member), settings, member))
    assert conf["listen_address"] == conf["rpc_address"] == "127.0.0.2"
    assert conf["seed_provider"][0]["parameters"][0]["seeds"] == "127.0.0.1:17000"
    assert conf["endpoint_snitch"] == "GossipingPropertyFileSnitch"
    assert conf["initial_token"] == member.initial_token and conf["num_tokens"] == 1
    assert conf["auto_bootstrap"] is False
    assert conf["native_transport_port"] == 19042 and conf["storage_port"] == 17000
    assert conf["data_file_directories"] == [str(settings.local_node_dir / "node2" / "data")]


def test_single_node_yaml_is_unchanged_by_the_cluster_support(settings: Settings) -> None:
    conf = yaml.safe_load(render_yaml(layout_for(settings), settings))
    assert conf["cluster_name"] == "news-search-local"  # a renamed cluster would refuse its own data
    assert conf["endpoint_snitch"] == "SimpleSnitch" and conf["initial_token"] == 0
    assert conf["seed_provider"][0]["parameters"][0]["seeds"] == "127.0.0.1:17000"


def test_cluster_nodes_get_their_datacenter_file(settings: Settings) -> None:
    member = Member(3, 3)
    layout = layout_for(settings, member)
    write_config(layout, settings, member)
    assert layout.rackdc_file.read_text().splitlines()[1:] == ["dc=dc1", "rack=rack1"]
    single = layout_for(settings)
    write_config(single, settings)
    assert not single.rackdc_file.exists()


def test_cluster_node_command_has_local_jmx_and_announces_its_shutdown(settings: Settings) -> None:
    member = Member(2, 3)
    lib = Path("/cache/5.0.9/lib")
    argv = build_command(Path("java"), lib, lib / "jamm.jar", layout_for(settings, member), settings, member)
    assert "-Dcassandra.jmx.local.port=17200" in argv
    assert "-Dcassandra.shutdown_announce_in_ms=0" not in argv
    single = build_command(Path("java"), lib, lib / "jamm.jar", layout_for(settings), settings)
    assert "-Dcassandra.shutdown_announce_in_ms=0" in single
    assert not any(a.startswith("-Dcassandra.jmx") for a in single)


def test_jmx_ports_that_collide_with_cql_or_storage_are_refused(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="NEWS_LOCAL_JMX_PORT"):
        check_cluster_ports(settings.with_(local_jmx_port=19041), 3)
    check_cluster_ports(settings, 3)


def test_a_state_dir_keeps_the_topology_it_was_created_with(tmp_path: Path) -> None:
    assert resolve_nodes(tmp_path, None) == 1
    assert resolve_nodes(tmp_path, 3) == 3
    record_nodes(tmp_path, 3)
    assert resolve_nodes(tmp_path, None) == 3
    with pytest.raises(NodeError, match="already holds a 3-node cluster"):
        resolve_nodes(tmp_path, 1)
    single = tmp_path / "single"
    (single / "conf").mkdir(parents=True)
    with pytest.raises(NodeError, match="already holds a single node"):
        resolve_nodes(single, 3)


def test_nodetool_status_lines_are_parsed() -> None:
    text = """Datacenter: dc1
===============
Status=Up/Down
|/ State=Normal/Leaving/Joining/Moving
--  Address    Load        Tokens  Owns (effective)  Host ID                               Rack
UN  127.0.0.2  115.94 KiB  1       66.7%             d23a4bc7-5ad8-4ddb-83c3-ee881dfb4e4d  rack1
DN  127.0.0.3  145.62 KiB  1       66.7%             14b76130-d32a-4875-ab09-204f220cb043  rack1
UJ  127.0.0.1  115.97 KiB  1       66.7%             8d18b0eb-f122-4a2d-a777-43f413045ff3  rack1
"""
    assert parse_status(text) == [
        RingEntry("127.0.0.2", True, "N"),
        RingEntry("127.0.0.3", False, "N"),
        RingEntry("127.0.0.1", True, "J"),
    ]
    assert [e.code for e in parse_status(text)] == ["UN", "DN", "UJ"]


def test_dry_run_of_three_nodes_prints_one_command_per_node(settings: Settings) -> None:
    result = CliRunner().invoke(db, ["start", "--nodes", "3", "--dry-run"], obj=settings)
    assert result.exit_code == 0, result.output
    commands = [shlex.split(line) for line in result.stdout.splitlines()]
    assert len(commands) == 3
    for index, argv in enumerate(commands, start=1):
        assert f"-Dcassandra.storagedir={settings.local_node_dir / f'node{index}'}" in argv


def test_status_of_a_stopped_cluster_lists_every_node_and_exits_3(settings: Settings) -> None:
    record_nodes(settings.local_node_dir, 3)
    result = CliRunner().invoke(db, ["status", "--json"], obj=settings)
    assert result.exit_code == 3
    status = json.loads(result.stdout)
    assert [n["address"] for n in status["nodes"]] == [f"127.0.0.{i}:19042" for i in (1, 2, 3)]
    assert not any(n["running"] for n in status["nodes"]) and status["ring"] == []
    human = CliRunner().invoke(db, ["status"], obj=settings)
    assert human.exit_code == 3 and "node3:    down" in human.output


def test_stop_and_logs_cover_every_node_of_the_recorded_cluster(settings: Settings) -> None:
    record_nodes(settings.local_node_dir, 3)
    stopped = CliRunner().invoke(db, ["stop"], obj=settings)
    assert stopped.exit_code == 0 and [f"node{i} is not running" in stopped.output for i in (1, 2, 3)] == [True] * 3
    for member in members(3):
        log = layout_for(settings, member).system_log
        log.parent.mkdir(parents=True)
        log.write_text(f"line of {member.name}\n")
    logs = CliRunner().invoke(db, ["logs", "-n", "1"], obj=settings)
    assert logs.exit_code == 0
    assert [f"==> node{i} (127.0.0.{i})" in logs.output for i in (1, 2, 3)] == [True] * 3
    one = CliRunner().invoke(db, ["logs", "--node", "2", "-n", "1"], obj=settings)
    assert one.output.strip() == "line of node2"
    follow = CliRunner().invoke(db, ["logs", "-f"], obj=settings)
    assert follow.exit_code == 2 and "--node N" in follow.output


def test_reset_of_a_cluster_deletes_every_node_dir(settings: Settings) -> None:
    record_nodes(settings.local_node_dir, 3)
    for member in members(3):
        layout_for(settings, member).make_dirs()
    LocalCluster(settings, 3).reset()
    assert not settings.local_node_dir.exists()


def test_asking_another_topology_of_a_state_dir_is_a_clear_error(settings: Settings) -> None:
    record_nodes(settings.local_node_dir, 3)
    result = CliRunner().invoke(db, ["start", "--nodes", "1", "--dry-run"], obj=settings)
    assert result.exit_code == 2 and "keeps the topology it was created with" in result.output
    assert "Traceback" not in result.output


def test_docker_compose_offers_the_same_three_node_layout() -> None:
    compose = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text())
    nodes = {name: s for name, s in compose["services"].items() if "cluster" in s.get("profiles", [])}
    assert sorted(nodes) == ["cassandra1", "cassandra2", "cassandra3"]
    for service in nodes.values():
        env = service["environment"]
        assert env["CASSANDRA_SEEDS"] == "cassandra1" and env["CASSANDRA_DC"] == "dc1"
        assert env["CASSANDRA_ENDPOINT_SNITCH"] == "GossipingPropertyFileSnitch"
        assert env["MAX_HEAP_SIZE"] == "768M"
    assert nodes["cassandra2"]["depends_on"]["cassandra1"]["condition"] == "service_healthy"
    assert nodes["cassandra3"]["depends_on"]["cassandra2"]["condition"] == "service_healthy"
    assert [s["ports"] for s in nodes.values()] == [["127.0.0.1:9042:9042"], [], []]


def test_an_address_the_machine_does_not_have_is_a_clear_error() -> None:
    from localcassandra.ports import check_ports_free

    with pytest.raises(NodeError, match=r"192\.0\.2\.1 is not an address of this machine"):
        check_ports_free("192.0.2.1", {"NEWS_CASSANDRA_PORT": 19042})
