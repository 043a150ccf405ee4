"""Do acknowledged writes survive `kill -9` of the node, per commit-log sync mode, and what does each cost?

    .venv/bin/python -m bench.durability [--modes periodic,group] [--writes 20000] [--kill-after 8000]
        [--ingest-rows 40] [--rounds 1]

For each mode, on a node of its own (temporary directory, free ports):
1. loss: write `--writes` small rows with up to 64 in flight, recording every acknowledged id; at
   `--kill-after` acknowledgements SIGKILL the JVM; restart it and count acknowledged ids that are gone;
2. cost: ingest the same `--ingest-rows` real articles (data/news_sample.csv) with the product, into a
   fresh keyspace, and report articles/s; rounds alternate between modes.
Prints a table; raw results go to bench/results/durability-<time>.json.
"""

from __future__ import annotations

import argparse
import csv
import os
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench import common
from localcassandra.ports import free_port

REPO = Path(__file__).resolve().parents[1]


class Node:
    def __init__(self, root: Path, mode: str) -> None:
        from localcassandra.node import LocalNode
        from newsindex.settings import Settings

        self.env = {
            "NEWS_LOCAL_NODE_DIR": str(root / "node"),
            "NEWS_CASSANDRA_PORT": str(free_port()),
            "NEWS_LOCAL_STORAGE_PORT": str(free_port()),
            "NEWS_LOCAL_HEAP": "1G",
            "NEWS_LOCAL_COMMITLOG_SYNC": mode,
            "NEWS_START_TIMEOUT_S": "600",
        }
        self.settings = Settings.from_env(env=self.env)
        self.node = LocalNode(self.settings)

    def kill(self) -> None:
        pid = self.node.pid()
        if pid:
            os.kill(pid, signal.SIGKILL)
            try:
                os.waitpid(pid, 0)  # our child: reap it
            except ChildProcessError:
                while self.node.pid() is not None:
                    time.sleep(0.1)

    def wait_port_free(self, timeout_s: float = 120.0) -> None:
        from localcassandra.ports import port_is_free, port_owner

        port = self.settings.cassandra_port
        deadline = time.monotonic() + timeout_s
        while not port_is_free("127.0.0.1", port):
            if time.monotonic() > deadline:
                owner = port_owner(port)
                raise RuntimeError(f"port {port} still taken by {owner.describe() if owner else 'unknown'}")
            time.sleep(0.5)


def lost_after_kill(node: Node, writes: int, kill_after: int) -> dict[str, Any]:
    from newsindex.connect import close, connect

    session = connect(node.settings)
    session.execute(
        "CREATE KEYSPACE IF NOT EXISTS durability"
        " WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    session.execute("CREATE TABLE IF NOT EXISTS durability.t (id int PRIMARY KEY, body text)")
    insert = session.prepare("INSERT INTO durability.t (id, body) VALUES (?, ?)")
    acked: set[int] = set()
    lock = threading.Lock()
    slots = threading.BoundedSemaphore(64)
    killed = threading.Event()

    def ok(_rows: Any, i: int) -> None:
        with lock:
            acked.add(i)
            due = len(acked) >= kill_after and not killed.is_set()
            if due:
                killed.set()
        if due:
            node.kill()
        slots.release()

    def failed(_exc: BaseException) -> None:
        slots.release()

    body = "x" * 400
    started = time.perf_counter()
    for i in range(writes):
        if killed.is_set():
            break
        slots.acquire()
        future = session.execute_async(insert, (i, body))
        future.add_callbacks(ok, failed, callback_args=(i,))
    killed.wait(timeout=600)
    with lock:
        acknowledged = set(acked)
    write_seconds = time.perf_counter() - started
    close(session)
    node.wait_port_free()
    node.node.start()
    session = connect(node.settings)
    present = {r.id for r in session.execute("SELECT id FROM durability.t", timeout=120)}
    close(session)
    lost = sorted(acknowledged - present)
    return {
        "acknowledged": len(acknowledged),
        "lost": len(lost),
        "first_lost": lost[:5],
        "writes_per_s": len(acknowledged) / write_seconds if write_seconds else 0.0,
    }


def ingest_rate(node: Node, rows: int, encoder: Any, keyspace: str) -> dict[str, Any]:
    from ingest.cli import run_ingest
    from newsindex.settings import Settings

    path = Path(tempfile.mkdtemp()) / "rows.csv"
    with (
        (REPO / "data" / "news_sample.csv").open(newline="", encoding="utf-8") as src,
        path.open("w", newline="") as dst,
    ):
        reader = csv.reader(src)
        writer = csv.writer(dst)
        for i, record in enumerate(reader):
            if i > rows:
                break
            writer.writerow(record)
    settings = Settings.from_env(env={**node.env, "NEWS_KEYSPACE": keyspace, "NEWS_STATE_DIR": str(path.parent)})
    summary = run_ingest(path, settings, encoder=encoder)
    return {"articles_per_s": summary.articles_per_s, "seconds": summary.seconds, "failed": summary.failed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.durability")
    parser.add_argument("--modes", default="periodic,group,batch")
    parser.add_argument("--writes", type=int, default=20000)
    parser.add_argument("--kill-after", type=int, default=8000)
    parser.add_argument("--ingest-rows", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from newsindex.encoder import load_encoder
    from newsindex.settings import Settings

    modes = [m.strip() for m in args.modes.split(",")]
    machine = common.machine_info()
    common.say(f"# durability of acknowledged writes per commit-log mode; load at start {machine['load_avg_at_start']}")
    encoder = load_encoder(Settings.from_env())
    results: dict[str, Any] = {"args": vars(args), "machine": machine, "modes": {}}
    nodes = {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for mode in modes:
                nodes[mode] = Node(Path(tmp) / mode, mode)
                nodes[mode].node.start()
                results["modes"][mode] = {"loss": lost_after_kill(nodes[mode], args.writes, args.kill_after)}
            for round_no in range(args.rounds):
                for mode in modes if round_no % 2 == 0 else list(reversed(modes)):
                    rate = ingest_rate(nodes[mode], args.ingest_rows, encoder, f"ingest_r{round_no}")
                    results["modes"][mode].setdefault("ingest", []).append(rate)
        finally:
            for node in nodes.values():
                node.node.stop()
    rows = []
    for mode, data in results["modes"].items():
        rates = [r["articles_per_s"] for r in data.get("ingest", [])]
        loss = data["loss"]
        rate = f"{common.median(rates):.2f}" if rates else "-"
        rows.append((mode, loss["acknowledged"], loss["lost"], f"{loss['writes_per_s']:.0f}", rate))
    headers = ["commit-log mode", "acknowledged before kill -9", "lost", "writes/s (64 in flight)", "ingest articles/s"]
    common.say(common.table(headers, rows))
    common.say(f"results: {common.save_results('durability', results)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
