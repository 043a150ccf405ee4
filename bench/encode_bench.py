"""The encode-only ceiling: the pipeline's own passages, encoded in one go with no database.

The passages are made exactly as `ingest/pipeline.py` makes them (read -> clean -> split_passages
with the pipeline's token budget -> `passage_input`: `title\\npassage`), then encoded by the
product's `Encoder` in fp32 and in bf16 autocast, alternated and repeated. The bf16 vectors are
compared with the fp32 ones (mean and min cosine). ONNX Runtime with dynamic int8 quantisation is
tried too when `optimum` and `onnxruntime` are importable; otherwise the table says why not.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import common


def pipeline_passages(path: Path, limit: int, encoder: Any, settings: Any) -> list[str]:
    """The encoder inputs the pipeline builds for the first `limit` articles of `path`."""
    from ingest.chunk import TokenCounter, split_passages
    from ingest.clean import clean_row
    from ingest.pipeline import passage_input
    from ingest.read import read_rows
    from ingest.records import Article, Quarantined

    count = TokenCounter(encoder.tokenizer)
    profile = encoder.profile
    max_tokens = settings.passage_max_tokens or profile.max_tokens
    base = (
        min(max_tokens, profile.max_tokens)
        - int(getattr(encoder, "special_tokens", 2))
        - encoder.count_tokens(profile.passage_prefix)
    )
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
            inputs.append(passage_input(cleaned, passage))
    return inputs


def encoders_by_precision(encoder: Any) -> dict[str, Any]:
    """fp32 and bf16 encoders sharing one loaded model (bf16 only where the CPU/GPU has it)."""
    from newsindex.encoder import Encoder, _bf16_supported

    out = {"fp32": Encoder(encoder.model, encoder.profile, encoder.device, "fp32", encoder.batch_size)}
    if _bf16_supported(encoder.device):
        out["bf16"] = Encoder(encoder.model, encoder.profile, encoder.device, "bf16", encoder.batch_size)
    return out


def cosine_stats(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return {"mean": float(np.mean(cos)), "min": float(np.min(cos))}


def onnx_int8(encoder: Any, texts: list[str], reference: np.ndarray, rounds: int) -> dict[str, Any]:
    """The model exported to ONNX, weights dynamically quantised to int8, run by ONNX Runtime.

    sentence-transformers' `backend="onnx"` needs `optimum-onnx`, whose 0.1.0 does not import with
    transformers 5 (`get_parameter_dtype` is gone), so this exports with `torch.onnx` and quantises
    with `onnxruntime.quantization.quantize_dynamic`; pooling is the model's own (mean, then L2).
    Needs `onnx`, `onnxruntime` (and `ml_dtypes`) importable, e.g. from a side directory on
    PYTHONPATH; otherwise the result says why.
    """
    try:
        import onnxruntime as ort
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        return {"status": "not installed", "why": f"{exc}; needs onnx, onnxruntime and ml_dtypes"}
    work = common.RESULTS_DIR / "onnx"
    work.mkdir(parents=True, exist_ok=True)
    tokenizer = encoder.model.tokenizer
    max_len = int(encoder.model.max_seq_length)
    names = ["input_ids", "attention_mask", "token_type_ids"]

    class _Wrapped(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, ids: Any, mask: Any, types: Any) -> Any:
            return self.model(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state

    try:
        sample = tokenizer(texts[:2], padding=True, truncation=True, max_length=max_len, return_tensors="pt")
        torch.onnx.export(
            _Wrapped(encoder.model[0].auto_model.eval()),
            tuple(sample[n] for n in names),
            str(work / "model.onnx"),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "seq"} for n in [*names, "last_hidden_state"]},
            opset_version=17,
            dynamo=False,
        )
        quantize_dynamic(str(work / "model.onnx"), str(work / "model-int8.onnx"), weight_type=QuantType.QInt8)
        session = ort.InferenceSession(str(work / "model-int8.onnx"), providers=["CPUExecutionProvider"])
    except Exception as exc:  # exporter or runtime missing a piece: report, never fail the run
        return {"status": "failed", "why": f"{type(exc).__name__}: {exc}"[:500]}

    def encode_all() -> np.ndarray:
        out = []
        for start in range(0, len(texts), encoder.batch_size):
            batch = tokenizer(
                texts[start : start + encoder.batch_size],
                padding=True,
                truncation=True,
                max_length=max_len,
                return_tensors="np",
            )
            hidden = session.run(None, {n: batch[n].astype(np.int64) for n in names})[0]
            mask = batch["attention_mask"][..., None]
            pooled = (hidden * mask).sum(1) / mask.sum(1)
            out.append(pooled / np.linalg.norm(pooled, axis=1, keepdims=True))
        return np.concatenate(out).astype(np.float32)

    seconds = []
    vectors = encode_all()  # warm-up
    for _ in range(rounds):
        t = time.perf_counter()
        vectors = encode_all()
        seconds.append(time.perf_counter() - t)
    return {"status": "ok", "seconds": seconds, "cosine_to_fp32": cosine_stats(reference, vectors)}


def run(articles: int, rounds: int, encoder: Any = None, try_onnx: bool = True) -> dict[str, Any]:
    from newsindex.encoder import load_encoder

    path = common.require_sample()
    settings = common.bench_settings("bench_encode", precision="auto")
    encoder = encoder or load_encoder(settings)
    texts = pipeline_passages(path, articles, encoder, settings)
    variants = encoders_by_precision(encoder)
    common.say(f"[encode] {len(texts)} passages from {articles} articles; {rounds} rounds of {list(variants)}")
    vectors: dict[str, np.ndarray] = {}
    chosen = encoder.precision.dtype
    runs = {name: (enc, None) for name, enc in variants.items()}
    runs[f"{chosen}, 1 torch thread"] = (variants[chosen], 1)

    def timed(name: str) -> Any:
        enc, threads = runs[name]

        def call() -> float:
            with common.torch_threads(threads):
                t = time.perf_counter()
                vectors[name] = enc.encode_passages(texts)
                return time.perf_counter() - t

        return call

    seconds = common.alternate({name: timed(name) for name in runs}, rounds)
    result: dict[str, Any] = {"articles": articles, "passages": len(texts), "rounds": rounds, "seconds": seconds}
    result["passages_per_s"] = {name: len(texts) / common.median(s) for name, s in seconds.items()}
    result["chosen_precision"] = encoder.precision.dtype
    if "bf16" in vectors:
        result["bf16_cosine_to_fp32"] = cosine_stats(vectors["fp32"], vectors["bf16"])
    if try_onnx:
        onnx = onnx_int8(encoder, texts, vectors["fp32"], rounds)
        if onnx.get("status") == "ok":
            result["passages_per_s"]["onnx-int8"] = len(texts) / common.median(onnx["seconds"])
        result["onnx_int8"] = onnx
    return result


def report(result: dict[str, Any]) -> str:
    fp32 = result["passages_per_s"]["fp32"]
    rows = []
    for name, rate in result["passages_per_s"].items():
        raw = result["seconds"].get(name) or result.get("onnx_int8", {}).get("seconds", [])
        cos = {
            "bf16": result.get("bf16_cosine_to_fp32"),
            "onnx-int8": result.get("onnx_int8", {}).get("cosine_to_fp32"),
        }
        c = cos.get(name) or {"mean": 1.0, "min": 1.0}
        rows.append([name, rate, common.ratio(rate, fp32), c["mean"], c["min"], " / ".join(f"{s:.1f}" for s in raw)])
    text = common.table(
        ["precision", "passages/s (median)", "vs fp32", "cosine to fp32 (mean)", "cosine (min)", "raw seconds"],
        rows,
        4,
    )
    onnx = result.get("onnx_int8")
    if onnx and onnx.get("status") != "ok":
        text += f"\n\nONNX int8: {onnx['status']}: {onnx['why']}"
    return text
