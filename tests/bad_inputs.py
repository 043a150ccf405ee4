"""The bad-input corpus (tests/data/bad/, described in its README.md) and what ingesting each file must do.

One file per kind of bad input, each with fictional rows on example.org links of its own
(`https://example.org/fictional/bad/<file>/<slug>`), so files never share an article. The unit tests
check read/clean/plan on them; the integration tests ingest each into a real keyspace and check the
summary, the quarantine file and what was stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BAD = Path(__file__).resolve().parent / "data" / "bad"


@dataclass(frozen=True)
class Case:
    name: str  # tests/data/bad/<name>.csv
    ingested: tuple[int, ...]  # lines (where each record starts) that become articles
    quarantined: tuple[tuple[int, str], ...] = ()  # (line, start of the reason)
    duplicates: int = 0  # rows merged into a later copy of the same link
    # (slug, text) the stored title + passage text must contain / must not contain
    contains: tuple[tuple[str, str], ...] = ()
    lacks: tuple[tuple[str, str], ...] = ()

    @property
    def path(self) -> Path:
        return BAD / f"{self.name}.csv"

    @property
    def rows(self) -> int:
        return len(self.ingested) + len(self.quarantined) + self.duplicates

    def link(self, slug: str) -> str:
        return f"https://example.org/fictional/bad/{self.name}/{slug}"


NOTE = "Fictional row written for the news-search bad-input tests"

# Files whose rows are read: each bad row quarantined with its line and reason, or repaired.
ROW_CASES = [
    Case("bad_link", (2, 4), ((3, "bad_link: 'not a link'"),)),
    Case("relative_link", (2, 4), ((3, "bad_link: '/fictional/bad/relative_link/bad'"),)),
    Case("non_http_link", (2, 5), ((3, "bad_link: 'javascript:alert(1)'"), (4, "bad_link: 'ftp://"))),
    Case("link_with_spaces", (2, 4), ((3, "bad_link"),)),
    Case("link_bad_port", (2, 4), ((3, "bad_link"),)),
    Case("missing_link", (2, 4), ((3, "missing_field: link"),)),
    Case("missing_date", (2, 4), ((3, "bad_date: missing"),)),
    Case("impossible_date", (2, 5), ((3, "bad_date: impossible 'Feb 30, 2023'"), (4, "bad_date: impossible"))),
    Case("ambiguous_date", (2, 4), ((3, "bad_date: ambiguous '03/04/2022'"),)),
    Case("unrecognised_date", (2, 4), ((3, "bad_date: unrecognised 'yesterday'"),)),
    Case("empty_title", (2, 5), ((3, "missing_field: title"), (4, "empty_title"))),
    Case("empty_content", (2, 5), ((3, "missing_field: content"), (4, "empty_content"))),
    Case("title_too_long", (2, 4), ((3, "too_large: title"),)),
    Case("unclosed_quote", (2, 4, 5), ((3, "unclosed_quote"),)),
    Case(
        "stray_quote",
        (2, 4, 5),
        ((3, "stray_quote"),),
        contains=(("literal", 'Keeper says "no way to a move'),),
    ),
    Case("truncated_last_line", (2, 3), ((4, "truncated_last_line"),)),
    Case("truncated_last_line_unquoted", (2,), ((3, "truncated_last_line"),)),
    Case("extra_columns", (2, 4), ((3, "wrong_field_count: 5 fields"),)),
    Case("missing_columns", (2, 4), ((3, "wrong_field_count: 3 fields"),)),
    Case("repeated_header", (2, 4), ((3, "repeated_header"),)),
    Case("nul_byte", (2, 4), ((3, "nul_byte"),)),
    Case("invalid_utf8", (2, 4), ((3, "undecodable_bytes: 0xa3"),)),
    Case(
        "bom",
        (2, 3),
        contains=(("good-1", "Harbour City sign reserve player number 1"),),
        lacks=(("good-1", "\ufeff"),),
    ),
    Case(
        "crlf",
        (2, 3),
        contains=(("good-2", "on deadline day.\nThe fee is undisclosed."),),
        lacks=(("good-2", "\r"),),
    ),
    Case(
        "mojibake",
        (2, 3),
        contains=(("bad", "Northvale agree £58m fee"), ("bad", "fee of £58m"), ("bad", '"I\'m delighted,"')),
        lacks=(("bad", "Â"), ("bad", "â")),
    ),
    Case("html_script", (2, 3), contains=(("bad", "<script>alert('x')</script>"), ("bad", "<b>fee</b>"))),
    Case(
        "rtl_emoji",
        (2, 3),
        contains=(
            ("bad", "\u26bd"),  # football
            ("bad", "\u05d1\u05e8\u05d5\u05da"),  # Hebrew
            ("bad", "\u0623\u0647\u0644\u0627"),  # Arabic
            ("bad", "\U0001f389"),  # party popper
        ),
    ),
    Case(
        "control_chars",
        (2, 3),
        contains=(("bad", "Northvale agree fee for reniw"),),
        lacks=(("bad", "\x1b"), ("bad", "\u202e"), ("bad", "\x07"), ("bad", "\x01")),
    ),
    Case(
        "duplicate_link",
        (2, 4, 5),
        duplicates=1,
        contains=(("same", "Northvale agree fee for winger (updated)"), ("same", "Second copy")),
        lacks=(("same", "First copy"),),
    ),
    Case("blank_lines", (2, 6)),
    Case("header_only", ()),
]

# Files that cannot be read at all: an InputError naming the problem (exit 2), before any connection.
FILE_CASES = {
    "wrong_header": "wrong header: expected columns Title,Date,Link,Content, found Headline,Published,URL,Body",
    "missing_header": "the header line is missing",
    "empty_file": "the file is empty",
    "utf16": "it is UTF-16: save it as UTF-8",
}


def huge_field_csv(path: Path, megabytes: int = 10) -> Path:
    """A row whose Content is a `megabytes` MB field on one line, between two good rows (written at test time)."""
    base = "https://example.org/fictional/bad/huge_field"
    player = "Harbour City sign reserve player number"
    huge = f"{NOTE}. " + "The transfer saga rolls on. " * (megabytes * 1024 * 1024 // 28)
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("Title,Date,Link,Content\n")
        f.write(f'{player} 1,"Mar 3, 2022",{base}/good-1,"{NOTE}; a short one."\n')
        f.write(f'Northvale agree fee for winger,"Apr 12, 2022",{base}/bad,"{huge}"\n')
        f.write(f'{player} 2,"Mar 3, 2022",{base}/good-2,"{NOTE}; after the huge one."\n')
    return path
