"""1 node vs a 3-node cluster (RF 3) on the same machine, and searches through a node's death.

`python -m bench.cluster_bench` starts a single node and a 3-node local cluster of its own (temporary
state dirs, free ports, NEWS_LOCAL_HEAP per node, default 768M), side by side, then:
1. ingest: the same real articles (every 10th of data/news_sample.csv) into a fresh keyspace on each,
   alternated (1, 3, then 3, 1 ...), e5-small-v2; seconds, articles/s, failures, bytes on disk per node;
2. search: semantic and hybrid searches of the eval queries on each, alternated per round;
   p50/p95/p99 of the whole search; replicas contacted by one ANN query (query trace);
3. write: recombined passage rows (no encoder) written into each, alternated: the server's write cost;
4. outage: on the cluster, searches in a loop for --outage-s seconds while a node is killed (kill -9)
   5 s in (node 2, 3, 1, 2, ... in turn, restarted after each run), with the product's failover
   settings and with them off (NEWS_SPECULATIVE_DELAY_MS=0, NEWS_READ_RETRIES=0), alternated; errors,
   and latency before / after the kill.
Both topologies are stopped and deleted at the end. Same cores for both: RF 3 on one machine does
three times the server work, so read the ratios as the price of replication, not of scale-out.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import common
from bench.synthetic import load_rows, read_source_passages, recombined_rows

SAMPLE = common.REPO / "data" / "news_sample.csv"
VARIANTS = ("1 node", "3 nodes")
PARTS = ("ingest", "write", "search", "outage")
KILL_AT_S = 5.0


def _free_port(hosts: tuple[str, ...], count: int = 1) -> int:
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            first = int(s.getsockname()[1])
        ok = True
        for port, host in itertools.product(range(first, first + count), hosts):
            with socket.socket() as s:
                try:
                    s.bind((host, port))
                except OSError:
                    ok = False
        if ok:
            return first
    raise RuntimeError("no free ports")


def topology_settings(root: Path, nodes: int) -> Any:
    from localcassandra.topology import contact_points, replication_for
    from newsindex.settings import DEFAULT_MODEL, Settings

    hosts = tuple(f"127.0.0.{i}" for i in range(1, nodes + 1))
    return Settings.from_env(
        local_node_dir=root / f"nodes{nodes}",
        cassandra_port=_free_port(hosts),
        local_storage_port=_free_port(hosts),
        local_jmx_port=_free_port(("127.0.0.1",), 3),
        local_heap=os.environ.get("NEWS_LOCAL_HEAP", "768M"),
        cassandra_hosts=tuple(contact_points(nodes).split(",")),
        cassandra_local_dc="dc1" if nodes > 1 else "",
        replication=replication_for(nodes),
        state_dir=root / f"state{nodes}",
        # schema changes on 3 nodes of a saturated 2-core machine took over the default 20 s once; the searches
        # measured here fail on the server's own 5 / 10 s read timeouts long before this
        request_timeout_s=60.0,
        model=os.environ.get("NEWS_MODEL", DEFAULT_MODEL),
    )


def sample_csv(path: Path, articles: int) -> Path:
    import csv

    with SAMPLE.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[::10][:articles]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["Title", "Date", "Link", "Content"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def data_bytes_per_node(cluster: Any, keyspace: str) -> list[int]:
    return [
        common.keyspace_bytes(node.settings.with_(local_node_dir=node.layout.root), keyspace) for node in cluster.nodes
    ]


def ingest(settings: dict[str, Any], clusters: dict[str, Any], csv: Path, rounds: int, encoder: Any) -> dict[str, Any]:
    from ingest.cli import run_ingest
    from newsindex.connect import close, connect

    out: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
    for number in range(rounds):
        order = VARIANTS if number % 2 == 0 else tuple(reversed(VARIANTS))
        for name in order:
            keyspace = f"bench_cluster_r{number}"
            s = settings[name].with_(keyspace=keyspace)
            common.say(f"[cluster] ingest round {number + 1}, {name}")
            summary = run_ingest(csv, s, encoder=encoder, recreate=True).as_dict()
            session = connect(s)
            try:
                common.flush_table(session, s, keyspace, "passages", timeout_s=120)
            finally:
                close(session)
            summary["bytes_per_node"] = data_bytes_per_node(clusters[name], keyspace)
            summary["load_avg"] = os.getloadavg()[0]
            out[name].append(summary)
    return out


def write_only(settings: dict[str, Any], source_keyspace: str, rows: int, rounds: int, encoder: Any) -> dict[str, Any]:
    """Passage rows without the encoder: the server's write cost alone (RF 3 = three replicas' work).

    The rows are the ingested sample's passages recombined (bench.synthetic), written with the product's
    BoundedWriter and prepared INSERT at NEWS_BENCH_WRITE_CONCURRENCY in flight, alternated per round.
    """
    from newsindex.connect import close, connect
    from newsindex.schema import ensure_schema
    from newsindex.store import IndexStore

    source = connect(settings["1 node"].with_(keyspace=source_keyspace))
    try:
        sources = read_source_passages(source, source_keyspace)
    finally:
        close(source)
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
    for number in range(rounds):
        for name in VARIANTS if number % 2 == 0 else tuple(reversed(VARIANTS)):
            s = settings[name].with_(keyspace=f"bench_cluster_w{number}")
            session = connect(s)
            try:
                common.drop_keyspace(session, s.keyspace)
                ensure_schema(session, s, encoder.profile)
                loaded = load_rows(
                    IndexStore(session, s), recombined_rows(sources, rows, number), common.write_concurrency()
                )
            finally:
                close(session)
            out[name].append({**vars(loaded), "rows_per_s": loaded.rows_per_s, "load_avg": os.getloadavg()[0]})
            common.say(f"[cluster] write-only round {number + 1}, {name}: {loaded.rows_per_s:,.0f} rows/s")
    return out


def search_latency(settings: dict[str, Any], keyspace: str, queries: list[str], encoder: Any) -> dict[str, Any]:
    from newsindex.factory import build_service
    from newsindex.search import SearchRequest

    services = {name: build_service(settings[name].with_(keyspace=keyspace), encoder=encoder) for name in VARIANTS}
    samples: dict[str, list[float]] = {}
    try:
        for service in services.values():  # warm up: prepared statements, connections
            for query in queries[:10]:
                service.search(SearchRequest(query, mode="hybrid"))

        def block(name: str, mode: str, part: list[str]) -> Any:
            def call() -> None:
                for query in part:
                    t = time.perf_counter()
                    services[name].search(SearchRequest(query, k=10, mode=mode))
                    samples.setdefault(f"{name}, {mode}", []).append((time.perf_counter() - t) * 1000)

            return call

        half = len(queries) // 2
        for number in range(2):
            part = queries[number * half : (number + 1) * half]
            variants = {f"{n}, {m}": block(n, m, part) for n in VARIANTS for m in ("semantic", "hybrid")}
            common.in_order(variants, reverse=number % 2 == 1)
        fanout = ann_replicas(services["3 nodes"], encoder.encode_query(queries[0]))
    finally:
        for service in services.values():
            service.store.session.cluster.shutdown()
    return {"latency": {k: common.percentiles(v) for k, v in samples.items()}, "ann_replicas_3_nodes": fanout}


def ann_replicas(service: Any, vector: Any) -> dict[str, Any]:
    """Which nodes one product ANN query (LIMIT 200, LOCAL_ONE) touched, from its query trace."""
    from newsindex.failover import ANN_PROFILE
    from newsindex.store import ann_cql

    store = service.store
    statement = store.prepare(ann_cql(store.settings, date_from=False, date_to=False, n_terms=0))
    param = store.vector_param(vector)
    result = store.session.execute(statement, (param, param, 200), trace=True, execution_profile=ANN_PROFILE)
    trace = result.get_query_trace(max_wait_sec=10)
    sources = sorted({str(e.source) for e in trace.events})
    return {
        "coordinator": str(trace.coordinator),
        "nodes_in_trace": sources,
        "duration_ms": trace.duration.total_seconds() * 1000,
    }


def outage(
    settings: Any, cluster: Any, keyspace: str, queries: list[str], encoder: Any, seconds: float, rounds: int
) -> dict[str, Any]:
    """Per round both variants, alternated (A B, B A, ...); the killed node rotates 2, 3, 1, 2, ..."""
    from newsindex.factory import build_service
    from newsindex.search import SearchRequest

    variants = {
        "failover on (defaults)": settings,
        "failover off (speculation 0, read retries 0)": settings.with_(speculative_delay_ms=0, read_retries=0),
    }
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    names = [n for r in range(rounds) for n in (list(variants) if r % 2 == 0 else list(reversed(variants)))]
    for number, name in enumerate(names):
        victim = (2, 3, 1)[number % 3]
        service = build_service(variants[name].with_(keyspace=keyspace), encoder=encoder)
        events: list[tuple[float, bool, float, str]] = []
        try:
            for query in queries[:10]:
                service.search(SearchRequest(query, mode="hybrid"))
            started, killed, i = time.monotonic(), False, 0
            while time.monotonic() - started < seconds:
                if not killed and time.monotonic() - started >= KILL_AT_S:
                    cluster.node(victim).kill()
                    killed = True
                query, mode = queries[i % len(queries)], ("semantic", "hybrid")[i % 2]
                i += 1
                t = time.monotonic()
                try:
                    service.search(SearchRequest(query, k=10, mode=mode))
                    events.append((t - started, True, (time.monotonic() - t) * 1000, ""))
                except Exception as exc:
                    events.append(
                        (t - started, False, (time.monotonic() - t) * 1000, f"{type(exc).__name__}: {exc}"[:200])
                    )
        finally:
            service.store.session.cluster.shutdown()
        after = [ms for at, ok, ms, _ in events if ok and at >= KILL_AT_S]
        before = [ms for at, ok, ms, _ in events if ok and at < KILL_AT_S]
        errors = [(round(at, 1), err) for at, ok, _ms, err in events if not ok]
        out[name].append(
            {
                "victim": victim,
                "searches": len(events),
                "errors": len(errors),
                "error_samples": errors[:5],
                "before_kill": common.percentiles(before),
                "after_kill": common.percentiles(after),
            }
        )
        common.say(
            f"[cluster] outage {number + 1}, node {victim} killed, {name}: {len(errors)} errors, {len(events)} searches"
        )
        t = time.monotonic()
        cluster.start()
        common.say(f"[cluster] node {victim} back, ring UN again after {time.monotonic() - t:.0f} s")
    return out


def report(result: dict[str, Any]) -> str:
    out = []
    rows = []
    for name in VARIANTS:
        for n, s in enumerate(result["ingest"][name]):
            per_node = ", ".join(f"{b / 2**20:.1f}" for b in s["bytes_per_node"])
            rows.append(
                [name, n + 1, s["new"], s["failed"], s["seconds"], s["articles_per_s"], s["passages"], per_node]
            )
    headers = ["topology", "round", "articles", "failed", "seconds", "articles/s", "passages", "MiB on disk per node"]
    out.append(common.table(headers, rows, 2))
    if "write" in result:
        rows = [
            [name, n + 1, r["rows"], r["failed"], r["retried"], r["seconds"], r["rows_per_s"], r["load_avg"]]
            for name in VARIANTS
            for n, r in enumerate(result["write"][name])
        ]
        headers = ["topology", "round", "rows", "failed", "retried", "seconds", "rows/s", "load average"]
        out.append(common.table(headers, rows, 1))
    if "search" in result:
        lat = result["search"]["latency"]
        base = {m: lat[f"1 node, {m}"]["median"] for m in ("semantic", "hybrid")}
        rows = [
            [k, s["n"], s["median"], s["p95"], s["p99"], common.ratio(s["median"], base[k.split(", ")[1]])]
            for k, s in lat.items()
        ]
        out.append(common.table(["topology, mode", "n", "p50 ms", "p95 ms", "p99 ms", "p50 vs 1 node"], rows, 1))
        out.append(f"ANN trace (3 nodes): {result['search']['ann_replicas_3_nodes']}")
    if "outage" in result:
        rows = [
            [
                name,
                r.get("victim", 2),
                r["searches"],
                r["errors"],
                r["before_kill"].get("median", 0.0),
                r["after_kill"].get("median", 0.0),
                r["after_kill"].get("max", 0.0),
            ]
            for name, runs in result["outage"].items()
            for r in runs
        ]
        headers = [
            "3 nodes, a node killed 5 s in",
            "node killed",
            "searches",
            "errors",
            "p50 before ms",
            "p50 after ms",
            "max after ms",
        ]
        out.append(common.table(headers, rows, 1))
    return "\n\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=122, help="real articles (every 10th of the sample)")
    parser.add_argument("--rounds", type=int, default=2, help="alternated ingest rounds per topology")
    parser.add_argument("--queries", type=int, default=200, help="searches per topology and mode")
    parser.add_argument("--outage-s", type=float, default=60.0, help="seconds of searching per outage run")
    parser.add_argument("--outage-rounds", type=int, default=3, help="kills per failover variant")
    parser.add_argument("--write-rows", type=int, default=3000, help="rows per write-only load")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    from localcassandra.cluster import LocalCluster
    from newsindex.encoder import load_encoder

    root = Path(tempfile.mkdtemp(prefix="news-cluster-bench-"))
    settings = {"1 node": topology_settings(root, 1), "3 nodes": topology_settings(root, 3)}
    clusters = {
        name: LocalCluster(s, 1 if name == "1 node" else 3, progress=common.say) for name, s in settings.items()
    }
    result: dict[str, Any] = {"args": vars(args), "heap_per_node": settings["1 node"].local_heap}
    # No common.exclusive_run: this bench runs on nodes of its own, so it shares no keyspace with the others
    # (their CPU, yes: the load average goes into the results).
    try:
        for name, cluster in clusters.items():
            t = time.monotonic()
            cluster.start()
            result[f"start_seconds {name}"] = time.monotonic() - t
            common.say(f"[cluster] {name} up in {time.monotonic() - t:.0f} s")
        encoder = load_encoder(settings["1 node"])
        csv = sample_csv(root / "sample.csv", args.articles)
        result["load_avg"] = {"start": os.getloadavg()}
        parts = args.parts.split(",")
        # every later part needs an ingested keyspace: the last ingest round's, or one round when ingest is skipped
        result["ingest"] = ingest(settings, clusters, csv, args.rounds if "ingest" in parts else 1, encoder)
        keyspace = f"bench_cluster_r{(args.rounds if 'ingest' in parts else 1) - 1}"
        result["load_avg"]["after ingest"] = os.getloadavg()
        if "write" in parts:
            result["write"] = write_only(settings, keyspace, args.write_rows, args.rounds, encoder)
            result["load_avg"]["after write"] = os.getloadavg()
        queries = list(itertools.islice(itertools.cycle(common.eval_queries()), args.queries))
        if "search" in parts:
            result["search"] = search_latency(settings, keyspace, queries, encoder)
            result["load_avg"]["after search"] = os.getloadavg()
        common.save_results("cluster-partial", result)
        if "outage" in parts:
            result["outage"] = outage(
                settings["3 nodes"], clusters["3 nodes"], keyspace, queries, encoder, args.outage_s, args.outage_rounds
            )
            result["load_avg"]["after outage"] = os.getloadavg()
        result["rss_bytes"] = {name: [st.rss_bytes for st in c.status()] for name, c in clusters.items()}
    finally:
        for cluster in clusters.values():
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
    common.say(report(result))
    common.say(f"[cluster] results: {common.save_results('cluster', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
