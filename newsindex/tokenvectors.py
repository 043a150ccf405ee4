"""Contextual token vectors from the search model, for the why-this-result heatmap.

`SentenceTransformer.encode(..., output_value="token_embeddings")` gives the transformer's output
vector of every token (before pooling). The text is encoded with the profile's prefix, as the index
and the query were; the prefix's tokens and the special tokens ([CLS], [SEP]) are dropped, and each
kept token carries its character span in the unprefixed text, so spans can be marked in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["TokenVectors", "token_vectors"]


@dataclass(frozen=True)
class TokenVectors:
    tokens: list[str]  # the tokenizer's word pieces ('trans', '##fer')
    offsets: list[tuple[int, int]]  # character span of each token in the text (no prefix)
    vectors: np.ndarray  # (tokens, dim) float32
    truncated: bool  # the text was longer than the model's window; the tail has no tokens


def token_vectors(encoder: Any, text: str, prefix: str) -> TokenVectors:
    """Token vectors of `prefix + text` with the encoder's model, keeping only `text`'s tokens."""
    import torch

    model, tokenizer = encoder.model, encoder.tokenizer
    full = prefix + text
    max_len = int(getattr(model, "max_seq_length", 512) or 512)
    encoded = tokenizer(full, return_offsets_mapping=True, truncation=True, max_length=max_len)
    with torch.inference_mode():
        out = model.encode([full], output_value="token_embeddings", convert_to_numpy=False, show_progress_bar=False)
    vectors = np.asarray(out[0].float().cpu().numpy(), dtype=np.float32)
    ids, offsets = encoded["input_ids"], encoded["offset_mapping"]
    if len(ids) != len(vectors):  # the model tokenised differently (should not happen): no heatmap beats a wrong one
        raise ValueError(f"token count mismatch: tokenizer {len(ids)}, model {len(vectors)}")
    pieces = tokenizer.convert_ids_to_tokens(ids)
    special = set(tokenizer.all_special_ids)
    keep = [
        i for i, (tid, (start, end)) in enumerate(zip(ids, offsets, strict=True)) if tid not in special and end > start
    ]
    keep = [i for i in keep if offsets[i][0] >= len(prefix)]
    shift = len(prefix)
    last_end = offsets[keep[-1]][1] - shift if keep else 0
    return TokenVectors(
        [pieces[i] for i in keep],
        [(offsets[i][0] - shift, offsets[i][1] - shift) for i in keep],
        vectors[keep] if keep else np.zeros((0, vectors.shape[1]), dtype=np.float32),
        truncated=last_end < len(text.rstrip()),
    )
