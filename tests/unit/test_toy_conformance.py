"""The conformance kits, run against the toy components of every kind the next plugins need.

They check the contracts themselves: a camera generator, an inverter (and
one that tunes the generator, as PTI does) and an editor that meet them pass.
"""

from __future__ import annotations

import pytest

from lswap_core.plugins import register_plugin
from lswap_core.testing import EditorConformance, EmbedderConformance, GeneratorConformance, InverterConformance
from tests.support import ToysPlugin


@pytest.fixture(autouse=True)
def toys():
    register_plugin(ToysPlugin(), "toys")


class TestToyGenerator(GeneratorConformance):
    component_name = "toy"


class TestToyCameraGenerator(GeneratorConformance):
    component_name = "toy-camera"


class TestToyEmbedder(EmbedderConformance):
    component_name = "toy-embedder"


class TestToyInverter(InverterConformance):
    component_name = "toy-inverter"
    generator_name = "toy"


class TestToyTuningInverter(InverterConformance):
    component_name = "toy-tuning-inverter"
    generator_name = "toy"


class TestToyInverterOnACameraGenerator(InverterConformance):
    component_name = "toy-inverter"
    generator_name = "toy-camera"


class TestToyEditor(EditorConformance):
    component_name = "toy-editor"
    generator_name = "toy"
