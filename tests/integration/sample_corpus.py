"""The corpus the integration tests search: every 10th real article of data/news_sample.csv (122, 2020-2023)
plus the fictional articles of tests/data/fictional_news.csv, and questions with known answers in it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ingest.clean import clean_row
from ingest.read import read_rows
from ingest.records import Article, RawRow

REPO = Path(__file__).resolve().parents[2]
SAMPLE_CSV = REPO / "data" / "news_sample.csv"
FICTIONAL_CSV = REPO / "tests" / "data" / "fictional_news.csv"
QUERIES_FILE = REPO / "tests" / "data" / "sample_queries.jsonl"
FIELDS = ["Title", "Date", "Link", "Content"]
STEP = 10

# The fictional article with `<script>` in its text, and a question that finds it.
SCRIPT_QUERY = "Harbour City director of football plans to lower the average age of the squad"
SCRIPT_LINK = "https://example.org/fictional/harbour-city-sign-sindre-aasland"
RARE_NAME, RARE_NAME_LINK = "Vandersteen", "https://example.org/fictional/rivermouth-rovers-agree-fee-lucas-vandersteen"


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def real_rows() -> list[dict[str, str]]:
    return csv_rows(SAMPLE_CSV)[::STEP]


def write_corpus(path: Path) -> Path:
    """The test corpus as one CSV: the real subset, then the fictional articles."""
    return write_csv(path, real_rows() + csv_rows(FICTIONAL_CSV))


def queries() -> list[dict[str, str]]:
    return [json.loads(line) for line in QUERIES_FILE.read_text(encoding="utf-8").splitlines() if line]


def cleaned_titles() -> dict[str, str]:
    """Link -> title as ingestion stores it (mojibake repaired), for the real subset and the fiction."""
    titles: dict[str, str] = {}
    for path in (SAMPLE_CSV, FICTIONAL_CSV):
        for row in read_rows(path):
            if isinstance(row, RawRow):
                article = clean_row(row)
                if isinstance(article, Article):
                    titles[article.link] = article.title
    return titles


def first_case() -> tuple[str, str]:
    """(query, cleaned title of its expected article) for the page tests."""
    case = queries()[0]
    return case["query"], cleaned_titles()[case["expected_link"]]


def article_id_of(link: str) -> str:
    from ingest.clean import article_id

    return article_id(link)
