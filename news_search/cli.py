"""`news-search`: one command group for the whole product.

news-search db start|stop|status     the local Cassandra 5.0 node
news-search ingest PATH              CSV -> passages -> vectors -> Cassandra
news-search search "QUERY"           query the index from the terminal
news-search model status|fetch       the embedding model (e5-small-v2) and where it comes from
news-search verify [--repair]        check every article's passages and postings
news-search prune --before DATE      remove older articles (and their statistics)
news-search app                      serve the Streamlit search page
"""

from __future__ import annotations

import logging
import os

import click

from ingest.cli import ingest
from ingest.maintain_cli import prune, verify
from localcassandra.cli import db
from news_search.model_cli import model
from search_app.cli import app, search


def quiet_driver(verbose: int = 0) -> None:
    """The driver logs every failed connection attempt with a traceback; our errors say it in one line."""
    if verbose < 2:
        logging.getLogger("cassandra").setLevel(logging.CRITICAL)


@click.group(help=__doc__)
@click.version_option(package_name="news-search")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_driver(verbose)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


main.add_command(db)
main.add_command(ingest)
main.add_command(search)
main.add_command(app)
main.add_command(model)
main.add_command(verify)
main.add_command(prune)

if __name__ == "__main__":
    main()
