"""Model profiles: what the index must know about a sentence-transformers model.

The prefixes are part of the model's contract (e5 degrades without `query: ` / `passage: `), so they
live beside the model name and are recorded in the index manifest, never hard-coded in callers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from newsindex.settings import Settings

BUNDLED_MODEL = "all-MiniLM-L6-v2"


@dataclass(frozen=True)
class ModelProfile:
    name: str
    query_prefix: str
    passage_prefix: str
    max_tokens: int
    dimension: int

    def with_prefixes(self, query_prefix: str | None, passage_prefix: str | None) -> ModelProfile:
        return replace(
            self,
            query_prefix=self.query_prefix if query_prefix is None else query_prefix,
            passage_prefix=self.passage_prefix if passage_prefix is None else passage_prefix,
        )


KNOWN_PROFILES: dict[str, ModelProfile] = {
    p.name: p
    for p in [
        ModelProfile("intfloat/e5-small-v2", "query: ", "passage: ", 512, 384),
        ModelProfile("intfloat/e5-base-v2", "query: ", "passage: ", 512, 768),
        ModelProfile(
            "BAAI/bge-small-en-v1.5",
            "Represent this sentence for searching relevant passages: ",
            "",
            512,
            384,
        ),
        ModelProfile(BUNDLED_MODEL, "", "", 256, 384),
    ]
}
_ALIASES = {"sentence-transformers/all-MiniLM-L6-v2": BUNDLED_MODEL}


def canonical_model_name(name: str) -> str:
    return _ALIASES.get(name, name)


def profile_for(settings: Settings, name: str | None = None) -> ModelProfile | None:
    """The profile for `name` (default: the configured model) with the settings' prefix overrides.

    Returns None for a model we know nothing about; the encoder then reads the dimension and the
    max length from the loaded model and uses empty prefixes unless the settings give them.
    """
    profile = KNOWN_PROFILES.get(canonical_model_name(name or settings.model))
    if profile is None:
        return None
    return profile.with_prefixes(settings.query_prefix, settings.passage_prefix)
