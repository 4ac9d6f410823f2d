"""Fixtures of the command tests that use the real face-api weights and photos of the shared assets."""

from __future__ import annotations

import pytest

from lswap_core.convert import convert
from tests.conftest import SHARED_ASSETS

FACE_API = SHARED_ASSETS / "face-api"
ASTRONAUT = SHARED_ASSETS / "images" / "astronaut.png"
CLOSE_UP = SHARED_ASSETS / "images" / "single-face-crop.png"


@pytest.fixture(scope="session")
def face_networks(tmp_path_factory):
    """``--analyzer-weights`` and ``--embedder-weights`` options naming faceapi exports converted from the assets."""
    folder = tmp_path_factory.mktemp("faceapi")
    analyzer = convert(FACE_API, folder / "analyzer.safetensors")
    embedder = convert(FACE_API / "face_recognition_model-weights_manifest.json", folder / "embedder.safetensors")
    return ["--analyzer-weights", str(analyzer), "--embedder-weights", str(embedder)]
