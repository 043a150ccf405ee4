from __future__ import annotations

import re
from pathlib import Path

import pytest

from newsindex.errors import ConfigError
from newsindex.settings import Settings, env_fields

REPO = Path(__file__).resolve().parents[2]


def test_env_example_documents_every_setting() -> None:
    text = (REPO / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*(NEWS_[A-Z0-9_]+)=", text, flags=re.M))
    assert {f.metadata["env"] for f in env_fields()} <= documented


def test_env_example_values_parse_back_to_the_defaults() -> None:
    env = dict(re.findall(r"^(NEWS_[A-Z0-9_]+)=(.*)$", (REPO / ".env.example").read_text(), flags=re.M))
    env = {k: v.strip('"') for k, v in env.items()}
    parsed = Settings.from_env(env=env)
    assert parsed.with_(model_explicit=False) == Settings()


def test_values_are_typed() -> None:
    s = Settings.from_env(
        env={
            "NEWS_CASSANDRA_HOSTS": "a, b",
            "NEWS_CASSANDRA_PORT": "9043",
            "NEWS_CASSANDRA_TLS": "yes",
            "NEWS_STATE_DIR": "~/x",
        }
    )
    assert s.cassandra_hosts == ("a", "b") and s.cassandra_port == 9043 and s.cassandra_tls is True
    assert s.state_dir == Path.home() / "x"


def test_model_is_explicit_only_when_configured() -> None:
    assert Settings.from_env(env={}).model_explicit is False
    assert Settings.from_env(env={"NEWS_MODEL": "all-MiniLM-L6-v2"}).model_explicit is True
    assert Settings.from_env(env={}, model="x").model_explicit is True


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"NEWS_DB_MODE": "cloud"}, "NEWS_DB_MODE"),
        ({"NEWS_DB_MODE": "astra"}, "NEWS_ASTRA_TOKEN"),
        ({"NEWS_DB_MODE": "astra", "NEWS_ASTRA_TOKEN": "t"}, "NEWS_ASTRA_DATABASE_ID"),
        ({"NEWS_ASTRA_TOKEN": "t"}, "NEWS_DB_MODE"),
        ({"NEWS_CASSANDRA_USERNAME": "u"}, "NEWS_CASSANDRA_PASSWORD"),
        ({"NEWS_CASSANDRA_PORT": "nine"}, "NEWS_CASSANDRA_PORT"),
        ({"NEWS_KEYSPACE": "drop table;"}, "NEWS_KEYSPACE"),
        ({"NEWS_SEARCH_CANDIDATES": "5000"}, "NEWS_SEARCH_CANDIDATES"),
        ({"NEWS_CASSANDRA_TLS_CA_FILE": "/ca.pem"}, "NEWS_CASSANDRA_TLS"),
    ],
)
def test_bad_or_contradictory_settings_name_the_key(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(env=env)


def test_secrets_are_masked_in_repr() -> None:
    s = Settings.from_env(
        env={"NEWS_DB_MODE": "astra", "NEWS_ASTRA_TOKEN": "AstraCS:secret-token", "NEWS_ASTRA_DATABASE_ID": "db"}
    )
    assert "secret-token" not in repr(s) and "secret-token" not in str(s)
    s2 = Settings.from_env(env={"NEWS_CASSANDRA_USERNAME": "u", "NEWS_CASSANDRA_PASSWORD": "hunter2"})
    assert "hunter2" not in repr(s2)


def test_prefix_overrides_keep_their_trailing_space() -> None:
    s = Settings.from_env(env={"NEWS_QUERY_PREFIX": "query: ", "NEWS_PASSAGE_PREFIX": "passage: "})
    assert (s.query_prefix, s.passage_prefix) == ("query: ", "passage: ")
    assert Settings.from_env(env={"NEWS_QUERY_PREFIX": ""}).query_prefix is None
