"""Cleaning: mojibake repaired, scraping leftovers gone, dates parsed, ids stable."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.clean import (
    DateProblem,
    article_id,
    canonical_link,
    clean_row,
    content_hash,
    fix_lost_bytes,
    normalise_whitespace,
    parse_date,
    repair_text,
    strip_artefacts,
)
from ingest.read import read_rows
from ingest.records import Article, Quarantined, RawRow

DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "news_sample.csv"
FICTIONAL = Path(__file__).resolve().parents[2] / "tests" / "data" / "fictional_news.csv"
LINK = "https://example.org/fictional/harbour-city-loan-swap-keeper"


def row(**fields: str) -> RawRow:
    values = {
        "title": "Harbour City sign keeper",
        "date": "Mar 3, 2022",
        "link": LINK,
        "content": "Harbour City have signed a goalkeeper.",
    }
    values.update(fields)
    return RawRow(line=2, **values)


# --- mojibake -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("a fee of Â£58m", "a fee of £58m"),
        ("worth â¬90m", "worth €90m"),
        ("worth â\x82¬90m", "worth €90m"),
        ("Iâm happy", "I'm happy"),
        ("Iâ\x80\x99m happy", "I'm happy"),
        ("90minÂ\xa0rounds up", "90min rounds up"),
        ("90minÂ rounds up", "90min rounds up"),
        ("BarÃ§a and MÃ¼ller", "Barça and Müller"),
    ],
)
def test_mojibake_is_repaired(raw: str, clean: str) -> None:
    assert repair_text(raw) == clean


def test_mojibake_pound_sign_is_repaired() -> None:
    assert repair_text("Chelsea have agreed a Â£58m fee.") == "Chelsea have agreed a £58m fee."


def test_complete_and_lost_byte_copies_clean_to_the_same_text() -> None:
    complete = "â\x80\x9cIâ\x80\x99m staying,â\x80\x9d he said â\x80\x93 the offer was â\x82¬30m."
    lost = "âIâm staying,â he said â the offer was â¬30m."
    assert repair_text(complete) == repair_text(lost) == '"I\'m staying," he said – the offer was €30m.'


def test_space_after_lost_euro_is_not_read_as_a_lost_byte() -> None:
    assert repair_text("a fee of â¬ 57.37 million") == "a fee of € 57.37 million"


@pytest.mark.parametrize(
    ("lost", "fixed"),
    [
        ("he canât wait", "he can't wait"),
        ("Cityâs squad and weâve won", "City's squad and we've won"),
        ("Ligue 1âs deal", "Ligue 1's deal"),
        ("NâGolo and the Ballon dâOr", "N'Golo and the Ballon d'Or"),
        ("this season â and next", "this season – and next"),
        ("he said. âWe are ready.â Then", 'he said. "We are ready." Then'),
        ("the Fansâ Forum", "the Fans' Forum"),
        ("it remains ânoâ.", "it remains \"no'."),
        ("Lisandro MartÃnez and Brahim DÃaz", "Lisandro Martínez and Brahim Díaz"),
        ("a fee of â¦ well", "a fee of … well"),
    ],
)
def test_lost_byte_rules_restore_the_intended_character(lost: str, fixed: str) -> None:
    assert fix_lost_bytes(lost) == fixed


@pytest.mark.parametrize(
    "text",
    [
        "Saint-Ãtienne",  # É, Á, Ø or Ü: ambiguous, left alone
        "Câmara joined from Tâmega",  # a real â inside a word
        "Eiður Guðjohnsen",  # a real ð after a letter
        "No mojibake here at all.",
    ],
)
def test_lost_byte_rules_leave_real_or_ambiguous_text_alone(text: str) -> None:
    assert fix_lost_bytes(text) == text


@pytest.mark.parametrize(
    "remnant",
    ["âï¸", "â½ï¸", "ð¤©ð©µ", "ðð´", "\ufffd"],
)
def test_emoji_remnants_are_removed(remnant: str) -> None:
    assert fix_lost_bytes(f"Welcome! {remnant} Done.") == "Welcome!  Done."


def test_keycap_emoji_remnants_keep_their_digits() -> None:
    assert fix_lost_bytes("Our new #ï¸â£2ï¸â£1ï¸â£ - welcome") == "Our new #21 - welcome"


# --- scraping leftovers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("to join Chelsea instead. feed Should all go", "to join Chelsea instead. Should all go"),
        ("(Fabrizio Romano) manual Barcelona knocked back", "(Fabrizio Romano) Barcelona knocked back"),
        ("Fernandez. READ NEXT manual Mac Allister's father", "Fernandez. Mac Allister's father"),
        ("a new deal is on the cards. LISTEN NOW", "a new deal is on the cards."),
        ("been Chelsea. pic.twitter.com/LCYf6A2BQr Co-sporting", "been Chelsea. Co-sporting"),
        ("terms agreed https://t.co/rDhWZFVPBY Hojlund", "terms agreed Hojlund"),
        ("Let's go ! ?????????? And while", "Let's go ! And while"),
        ("Argentina ? Ecuador ??#VibraElContinente", "Argentina Ecuador #VibraElContinente"),
        ("afternoon. ?There's nothing", "afternoon. There's nothing"),
    ],
)
def test_scraping_leftovers_are_removed(raw: str, clean: str) -> None:
    assert repair_text(raw) == clean


@pytest.mark.parametrize(
    "prose",
    [
        "He was left to feed off scraps. The striker wants more.",
        "the manual labour of pre-season. Training starts Monday.",
        "Why? Because the fee was too high. Would you pay it?",
        "They READ the contract. MORE talks are planned.",
        "Read more about the deal on the club website.",
        "The stats: 12 goals. Feed the striker, he said.",
    ],
)
def test_ordinary_prose_is_not_taken_for_an_artefact(prose: str) -> None:
    assert strip_artefacts(prose) == prose


def test_html_in_content_is_kept_as_text_for_the_page_to_escape() -> None:
    text = "A scraped <b>bold</b> fragment and <script>alert('x')</script> here."
    assert repair_text(text) == text


def test_right_to_left_text_and_emoji_are_kept() -> None:
    hebrew, arabic = "\u05e9\u05dc\u05d5\u05dd", "\u0645\u0631\u062d\u0628\u0627"
    text = f"Fans sang {hebrew} and {arabic} \u26bd\ufe0f \U0001f600 \u200fafter the \u200egoal."
    assert repair_text(text) == text


def test_control_characters_and_bidi_overrides_are_dropped() -> None:
    raw = "Deal\x1b[2J done\x07 for \u202egnihton\u202c \x9dreported\x01\x7f."
    assert repair_text(raw) == "Deal done for gnihton reported."


# --- whitespace -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("a\u00a0b\tc   d", "a b c d"),
        ("  padded  ", "padded"),
        ("one.\r\n\r\n\r\ntwo.", "one.\ntwo."),
        ("one. \n   \n two.", "one.\ntwo."),
        ("soft\u00adhyphen and zero\u200bwidth", "softhyphen and zerowidth"),
        ("form\x0cfeed and vertical\x0btab", "form feed and vertical tab"),
    ],
)
def test_whitespace_is_normalised_keeping_paragraph_breaks(raw: str, clean: str) -> None:
    assert normalise_whitespace(raw) == clean


@given(st.text(alphabet=st.sampled_from("ab \t\n\r\u00a0.")))
def test_normalised_whitespace_has_no_runs_and_is_stable(text: str) -> None:
    once = normalise_whitespace(text)
    assert normalise_whitespace(once) == once
    assert not re.search(r"[ \n]{2}|\t|\r|\u00a0", once)
    assert once == once.strip()


# --- dates, links, ids ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["Aug 15, 2023", "August 15, 2023", "2023-08-15", " Aug  15,  2023 ", "Aug 15, 2023"])
def test_dates_in_the_accepted_forms_are_parsed(text: str) -> None:
    assert parse_date(text) == datetime.date(2023, 8, 15)


def test_sept_is_read_as_september() -> None:
    assert parse_date("Sept 1, 2021") == datetime.date(2021, 9, 1)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("", "missing"),
        ("   ", "missing"),
        ("Feb 30, 2023", "impossible"),
        ("Aug 32, 2023", "impossible"),
        ("2023-13-01", "impossible"),
        ("Aug 15, 1899", "impossible"),
        ("Aug 15, 2199", "impossible"),
        ("03/04/2022", "ambiguous"),
        ("3.4.2022", "ambiguous"),
        ("15/08/2023", "unrecognised"),
        ("yesterday", "unrecognised"),
        ("Foo 1, 2022", "unrecognised"),
    ],
)
def test_refused_dates_say_why(text: str, kind: str) -> None:
    with pytest.raises(DateProblem, match=f"^{kind} date") as excinfo:
        parse_date(text)
    assert excinfo.value.kind == kind
    assert isinstance(excinfo.value, ValueError)


@pytest.mark.parametrize("text", ["Aug. 15 2023", "aug 15, 2023", "AUGUST 15, 2023", "2023-8-15"])
def test_near_forms_of_a_clear_date_are_accepted(text: str) -> None:
    assert parse_date(text) == datetime.date(2023, 8, 15)


def test_leap_day_is_a_date_only_in_a_leap_year() -> None:
    assert parse_date("Feb 29, 2020") == datetime.date(2020, 2, 29)
    with pytest.raises(DateProblem, match="impossible"):
        parse_date("Feb 29, 2023")


@pytest.mark.parametrize(
    "variant",
    [
        LINK,
        LINK + "/",
        "http://example.org/fictional/harbour-city-loan-swap-keeper",
        "HTTPS://EXAMPLE.ORG/fictional/harbour-city-loan-swap-keeper#comments",
        LINK + "?utm_source=twitter&utm_medium=social&fbclid=abc",
        "https://example.org:443/fictional/harbour-city-loan-swap-keeper",
        "  " + LINK + "  ",
    ],
)
def test_spellings_of_one_link_share_a_canonical_form_and_id(variant: str) -> None:
    assert canonical_link(variant) == LINK
    assert article_id(variant) == article_id(LINK)


def test_meaningful_query_parameters_are_kept_sorted() -> None:
    assert canonical_link("https://x.example/a?b=2&utm_id=9&a=1") == "https://x.example/a?a=1&b=2"


def test_path_case_is_kept() -> None:
    assert canonical_link("https://X.example/Posts/A") == "https://x.example/Posts/A"


@pytest.mark.parametrize("bad", ["", "not a link", "ftp://x.example/a", "/posts/a", "https://"])
def test_non_http_links_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="not an absolute http"):
        canonical_link(bad)


def test_article_id_is_16_hex_digits_and_differs_between_articles() -> None:
    ident = article_id(LINK)
    assert re.fullmatch(r"[0-9a-f]{16}", ident)
    assert ident != article_id(LINK + "-2")


def test_content_hash_changes_with_each_field() -> None:
    day = datetime.date(2022, 3, 3)
    base = content_hash("T", day, "C")
    assert base == content_hash("T", day, "C")
    assert (
        len(
            {
                base,
                content_hash("T2", day, "C"),
                content_hash("T", day.replace(day=4), "C"),
                content_hash("T", day, "C2"),
                content_hash("TC", day, ""),
            }
        )
        == 5
    )


# --- clean_row ------------------------------------------------------------------------------------


def test_clean_row_builds_an_article_from_cleaned_fields() -> None:
    article = clean_row(row(title=" Iâm  staying ", content="He said: âIâm staying.â\nFee: Â£5m."))
    assert isinstance(article, Article)
    assert article.title == "I'm staying"
    assert article.content == 'He said: "I\'m staying."\nFee: £5m.'
    assert article.published == datetime.date(2022, 3, 3)
    assert article.link == LINK
    assert article.article_id == article_id(LINK)
    assert article.content_hash == content_hash(article.title, article.published, article.content)
    assert article.source_line == 2


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"date": "15/08/2023"}, "bad_date: unrecognised '15/08/2023'"),
        ({"date": "Feb 30, 2023"}, "bad_date: impossible 'Feb 30, 2023'"),
        ({"date": "03/04/2022"}, "bad_date: ambiguous '03/04/2022'"),
        ({"date": " "}, "bad_date: missing"),
        ({"link": "not a link"}, "bad_link: 'not a link'"),
        ({"link": "https://example.org/a b"}, "bad_link: 'https://example.org/a b'"),
        ({"link": "https://example.org:99999/a"}, "bad_link:"),
        ({"link": "http://[::1/a"}, "bad_link:"),
        ({"link": "example.org/fictional/a"}, "bad_link: 'example.org/fictional/a'"),
        ({"content": "?? pic.twitter.com/AbCdE12345"}, "empty_content"),
        ({"title": "??"}, "empty_title"),
        ({"title": "word " * 200}, "too_large: title"),
        ({"content": "word " * 100}, "too_large: 499 chars, max 100"),
    ],
)
def test_clean_row_quarantines_what_cannot_become_an_article(fields: dict[str, str], reason: str) -> None:
    result = clean_row(row(**fields), max_chars=100)
    assert isinstance(result, Quarantined)
    assert result.line == 2
    assert result.reason.startswith(reason)
    assert LINK in result.raw or fields.get("link", "") in result.raw


def test_bad_date_file_quarantines_two_rows_and_keeps_the_long_month_form() -> None:
    results = [clean_row(r) for r in read_rows(DATA / "bad_date.csv") if isinstance(r, RawRow)]
    assert [r.reason for r in results if isinstance(r, Quarantined)] == [
        "bad_date: unrecognised '15/08/2023'",
        "bad_date: unrecognised 'yesterday'",
    ]
    assert [r.published for r in results if isinstance(r, Article)] == [datetime.date(2023, 8, 15)]


def test_duplicate_links_in_a_file_map_to_one_article_id() -> None:
    articles = [clean_row(r) for r in read_rows(DATA / "duplicate_links.csv") if isinstance(r, RawRow)]
    ids = [a.article_id for a in articles if isinstance(a, Article)]
    assert len(ids) == 4
    assert ids[0] == ids[1] == ids[3] != ids[2]


def test_mojibake_file_cleans_without_markers() -> None:
    articles = [clean_row(r) for r in read_rows(DATA / "mojibake.csv") if isinstance(r, RawRow)]
    assert all(isinstance(a, Article) for a in articles)
    for article in articles:
        assert isinstance(article, Article)
        assert not re.search("[Ââ\u0080-\u009f]", article.title + article.content)
    first, second = articles
    assert isinstance(first, Article) and isinstance(second, Article)
    assert "£58m" in first.content and "€20m" in first.content and "I can't wait" in first.content
    assert second.content.startswith('The striker said: "I\'m staying." The offer was worth €30m – a club')


def test_real_sample_reads_and_cleans_without_quarantine() -> None:
    items = list(read_rows(SAMPLE))
    articles = [clean_row(r) if isinstance(r, RawRow) else r for r in items]
    assert all(isinstance(a, Article) for a in articles), [a for a in articles if isinstance(a, Quarantined)]
    cleaned = [a for a in articles if isinstance(a, Article)]
    assert len(cleaned) == 1220
    assert len({a.article_id for a in cleaned}) == len(cleaned)
    # 1,041 rows carry mojibake; the few lone `â` whose lost bytes cannot be told apart stay (data/SOURCE.md).
    leftovers = [a.title for a in cleaned if re.search("[Ââ]", a.title + a.content)]
    assert len(leftovers) <= 5, leftovers


def test_fictional_fixture_says_so_and_keeps_its_script_tag() -> None:
    articles = [clean_row(r) for r in read_rows(FICTIONAL) if isinstance(r, RawRow)]
    assert articles and all(isinstance(a, Article) for a in articles)
    for article in articles:
        assert isinstance(article, Article)
        assert article.link.startswith("https://example.org/fictional/")
        assert article.content.startswith("Fictional article written for the news-search test suite")
    assert any("<script>alert('x')</script>" in a.content for a in articles if isinstance(a, Article))


def test_every_sample_query_points_at_an_article_of_the_test_corpus() -> None:
    import json

    rows = [r for r in read_rows(SAMPLE) if isinstance(r, RawRow)][::10]
    links = {a.link for a in (clean_row(r) for r in rows) if isinstance(a, Article)}
    queries = [json.loads(line) for line in (DATA / "sample_queries.jsonl").read_text().splitlines() if line]
    assert len(queries) >= 10
    assert all(q["query"] and q["expected_link"] in links for q in queries)
