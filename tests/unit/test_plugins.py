"""Plugin discovery, isolation of failures, blocking, strict mode, registries."""

from __future__ import annotations

import importlib.metadata
import inspect
import re

import pytest

import lswap_core
from lswap_core import hookspecs
from lswap_core.interfaces import Generator
from lswap_core.errors import DuplicateComponentError, PluginLoadError, UnknownComponentError
from lswap_core.plugins import get_plugin_host, register_plugin
from lswap_core.registry import get_registry, list_components, load_generator
from tests.support import PLUGIN_SOURCE, ToyGenerator

BROKEN_SOURCE = "raise ImportError('needs the missing package frobnicate')\n"


@pytest.fixture(autouse=True)
def _without_builtin_plugins(monkeypatch):
    """These tests watch the plugin system alone: lswap's own plugins are blocked."""
    builtin = [
        entry.name
        for entry in importlib.metadata.entry_points(group="lswap")
        if entry.dist is not None and entry.dist.metadata["Name"] == "lswap"
    ]
    monkeypatch.setenv("LSWAP_DISABLE_PLUGINS", ",".join(builtin))


def test_every_hook_spec_is_documented():
    specs = [name for name, value in vars(hookspecs).items() if name.startswith("lswap_") and callable(value)]
    assert len(specs) >= 6
    for name in specs:
        function = getattr(hookspecs, name)
        doc = inspect.getdoc(function) or ""
        assert doc.strip(), f"hook {name} has no docstring"
        for parameter in inspect.signature(function).parameters:
            assert re.search(rf":param {parameter}:", doc), f"hook {name} does not document {parameter!r}"


def test_importing_lswap_core_loads_no_plugin(fake_dists):
    fake_dists.add("toy-dist", {"toy": PLUGIN_SOURCE})
    import lswap_core.plugins as plugins

    assert plugins._host is None  # nothing built by importing or by the fixture
    assert lswap_core.hookimpl is hookspecs.hookimpl


def test_entry_point_plugin_is_discovered_with_its_distribution(fake_dists):
    fake_dists.add("toy-dist", {"toy": PLUGIN_SOURCE}, version="2.5")
    entry = get_registry("generator").get("toy")
    assert entry.cls is ToyGenerator and entry.plugin == "toy" and entry.distribution == "toy-dist"
    record = get_plugin_host().records["toy"]
    assert (record.status, record.version, record.source) == ("loaded", "2.5", "toy-dist")


def test_a_plugin_failing_to_import_is_recorded_and_others_still_work(fake_dists):
    fake_dists.add("toy-dist", {"toy": PLUGIN_SOURCE})
    fake_dists.add("broken-dist", {"broken": BROKEN_SOURCE})
    assert load_generator("toy").num_ws == 3
    record = get_plugin_host().records["broken"]
    assert record.status == "failed"
    assert record.error == "ImportError: needs the missing package frobnicate"


def test_strict_mode_reraises_load_errors(fake_dists, monkeypatch):
    fake_dists.add("broken-dist", {"broken": BROKEN_SOURCE})
    monkeypatch.setenv("LSWAP_STRICT_PLUGINS", "1")
    with pytest.raises(ImportError, match="frobnicate"):
        get_plugin_host()


def test_disabled_plugins_are_not_imported(fake_dists, monkeypatch):
    fake_dists.add("broken-dist", {"broken": BROKEN_SOURCE})
    fake_dists.add("toy-dist", {"toy": PLUGIN_SOURCE})
    monkeypatch.setenv("LSWAP_DISABLE_PLUGINS", "broken, toy")
    records = get_plugin_host().records
    assert records["broken"].status == records["toy"].status == "disabled"
    assert "toy" not in get_registry("generator")


def test_unknown_hook_fails_only_that_plugin_with_a_suggestion(fake_dists):
    typo = "from lswap_core import hookimpl\n\n@hookimpl\ndef lswap_register_generator(register):\n    pass\n"
    fake_dists.add("typo-dist", {"typo": typo})
    record = get_plugin_host().records["typo"]
    assert record.status == "failed"
    assert "lswap_register_generator'" in record.error and "lswap_register_generators" in record.error


def test_hook_with_arguments_the_spec_lacks_fails_that_plugin(fake_dists):
    bad = "from lswap_core import hookimpl\n\n@hookimpl\ndef lswap_register_generators(register, extra):\n    pass\n"
    fake_dists.add("bad-dist", {"bad": bad})
    assert get_plugin_host().records["bad"].status == "failed"


def test_a_hook_raising_during_registration_fails_that_plugin(fake_dists):
    raising = (
        "from lswap_core import hookimpl\n\n@hookimpl\n"
        "def lswap_register_generators(register):\n    raise RuntimeError('no weights here')\n"
    )
    fake_dists.add("raising-dist", {"raising": raising})
    fake_dists.add("toy-dist", {"toy": PLUGIN_SOURCE})
    assert get_registry("generator").names() == ["toy"]
    assert get_plugin_host().records["raising"].error == "RuntimeError: no weights here"


def test_two_plugins_claiming_one_name_is_an_error_naming_both(fake_dists):
    fake_dists.add("first-dist", {"first": PLUGIN_SOURCE})
    fake_dists.add("second-dist", {"second": PLUGIN_SOURCE})
    with pytest.raises(DuplicateComponentError) as raised:
        load_generator("toy")
    message = str(raised.value)
    assert "'first' (first-dist)" in message and "'second' (second-dist)" in message
    assert "LSWAP_DISABLE_PLUGINS" in message


def test_duplicate_names_raise_at_load_in_strict_mode(fake_dists, monkeypatch):
    fake_dists.add("first-dist", {"first": PLUGIN_SOURCE})
    fake_dists.add("second-dist", {"second": PLUGIN_SOURCE})
    monkeypatch.setenv("LSWAP_STRICT_PLUGINS", "1")
    with pytest.raises(DuplicateComponentError):
        get_registry("generator")


def test_unknown_name_lists_known_names_and_the_closest(fake_dists):
    fake_dists.add("toy-dist", {"toy": PLUGIN_SOURCE})
    with pytest.raises(UnknownComponentError) as raised:
        load_generator("tyo")
    assert "did you mean 'toy'?" in str(raised.value) and "known: toy" in str(raised.value)


@pytest.mark.parametrize(
    ("registered", "message"),
    [
        (object, "does not subclass"),
        (ToyGenerator(), "does not subclass"),  # an instance, not a class
        (Generator, "no valid `name`"),
        (type("Nameless", (ToyGenerator,), {}), "no valid `name`"),
        (type("Upper", (ToyGenerator,), {"name": "Bad Name"}), "no valid `name`"),
    ],
)
def test_register_validates_classes(registered, message):
    class Plugin:
        @lswap_core.hookimpl
        def lswap_register_generators(self, register):
            register(registered)

    register_plugin(Plugin(), "validating")
    assert get_registry("generator").names() == []
    assert message in get_plugin_host().records["validating"].error


def test_glob_listing_and_programmatic_registration():
    class Plugin:
        @lswap_core.hookimpl
        def lswap_register_generators(self, register):
            register(ToyGenerator)
            register(type("ToyWide", (ToyGenerator,), {"name": "toy-wide"}))

    register_plugin(Plugin(), "local-toys")
    assert [e.name for e in list_components("generator", "toy*")] == ["toy", "toy-wide"]
    assert [e.name for e in list_components("generator", "*wide")] == ["toy-wide"]
    assert get_plugin_host().records["local-toys"].source == "local"
    with pytest.raises(PluginLoadError):
        register_plugin(Plugin(), "local-toys")


def test_every_kind_has_its_interface_hook_and_loader():
    from lswap_core import interfaces, registry
    from lswap_core.kinds import KINDS

    hooks = {name for name in vars(hookspecs) if name.startswith("lswap_register_")}
    component_hooks = hooks - {"lswap_register_assets", "lswap_register_commands"}
    assert {spec.hook for spec in KINDS.values()} == component_hooks
    for spec in KINDS.values():
        base = spec.base_class()
        assert base is getattr(interfaces, spec.base) and base.kind == spec.name
        if spec.loader is not None:
            assert spec.loader in lswap_core.__all__ and getattr(lswap_core, spec.loader) is getattr(registry, spec.loader)


def test_a_plugin_failing_later_leaves_every_registry():
    """A plugin that registers a generator, then breaks when asked for editors, disappears from the generators too."""

    class HalfBroken:
        @lswap_core.hookimpl
        def lswap_register_generators(self, register):
            register(ToyGenerator)

        @lswap_core.hookimpl
        def lswap_register_editors(self, register):
            raise RuntimeError("editor weights missing")

    register_plugin(HalfBroken(), "half-broken")
    assert get_registry("generator").names() == ["toy"]
    assert get_registry("editor").names() == []
    assert get_plugin_host().records["half-broken"].status == "failed"
    assert get_registry("generator").names() == []
    with pytest.raises(UnknownComponentError):
        load_generator("toy")
