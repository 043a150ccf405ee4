"""`python -m ingest PATH`: the cron entry point, same options as `news-search ingest`."""

import logging

from ingest.cli import ingest

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
logging.getLogger("cassandra").setLevel(logging.CRITICAL)  # one-line errors of ours instead of driver tracebacks
ingest(prog_name="python -m ingest")
