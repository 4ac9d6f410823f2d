"""The example plugin passes lswap's generator conformance kit."""

from lswap_core.testing import GeneratorConformance


class TestExampleGenerator(GeneratorConformance):
    component_name = "example-style"
    config = {"resolution": 16, "channels": 8}
