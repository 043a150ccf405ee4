"""`python -m localcassandra start|stop|status|logs|reset` (same as `news-search db ...`)."""

from localcassandra.cli import db

if __name__ == "__main__":
    db(prog_name="python -m localcassandra")
