"""Hook implementations of the built-in ``faceapi`` plugin."""

from __future__ import annotations

from lswap_core import hookimpl


@hookimpl
def lswap_register_embedders(register):
    from .embedder import FaceApiEmbedder

    register(FaceApiEmbedder)


@hookimpl
def lswap_register_face_analyzers(register):
    from .analyzer import FaceApiAnalyzer

    register(FaceApiAnalyzer)


@hookimpl
def lswap_register_converters(register):
    from .convert import TfjsManifestConverter

    register(TfjsManifestConverter)


@hookimpl
def lswap_register_assets(register):
    from .assets import register_assets

    register_assets(register)
