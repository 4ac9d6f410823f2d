"""Hook specifications: everything a plugin can contribute to lswap.

A plugin is a module named by an entry point in the ``lswap`` group of its
distribution's metadata::

    [project.entry-points.lswap]
    my-plugin = "my_package.lswap_plugin"

The module defines functions named after the hooks below, marked with
``lswap_core.hookimpl``, and takes only the arguments it needs::

    from lswap_core import hookimpl

    @hookimpl
    def lswap_register_generators(register):
        from my_package.generator import MyGenerator   # imported only when used
        register(MyGenerator)

``register`` takes a component *class* (weights load only when a component is
built); the class carries its registry name in its ``name`` attribute and
subclasses the matching ABC in `lswap_core.interfaces`. Import heavy modules
inside the hook, as above, so that ``lswap --help`` stays fast and one broken
dependency only disables the plugin that needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import typer

PROJECT = "lswap"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Register = Callable[[type[Any]], None]


@hookspec
def lswap_register_generators(register: Register) -> None:
    """Register `lswap_core.interfaces.Generator` subclasses.

    :param register: call ``register(cls)`` once per generator class.
    """


@hookspec
def lswap_register_inverters(register: Register) -> None:
    """Register `lswap_core.interfaces.Inverter` subclasses (GAN inversion methods).

    :param register: call ``register(cls)`` once per inverter class.
    """


@hookspec
def lswap_register_embedders(register: Register) -> None:
    """Register `lswap_core.interfaces.IdentityEmbedder` subclasses.

    :param register: call ``register(cls)`` once per embedder class.
    """


@hookspec
def lswap_register_shape_models(register: Register) -> None:
    """Register `lswap_core.interfaces.ShapeModel` subclasses (3DMM regressors).

    :param register: call ``register(cls)`` once per shape model class.
    """


@hookspec
def lswap_register_editors(register: Register) -> None:
    """Register `lswap_core.interfaces.Editor` subclasses (latent editing methods).

    :param register: call ``register(cls)`` once per editor class.
    """


@hookspec
def lswap_register_face_analyzers(register: Register) -> None:
    """Register `lswap_core.interfaces.FaceAnalyzer` subclasses (face detection and landmarks).

    :param register: call ``register(cls)`` once per face analyzer class.
    """


@hookspec
def lswap_register_feature_networks(register: Register) -> None:
    """Register `lswap_core.interfaces.FeatureNetwork` subclasses (image features for FID and KID).

    :param register: call ``register(cls)`` once per feature network class.
    """


@hookspec
def lswap_register_converters(register: Register) -> None:
    """Register `lswap_core.interfaces.Converter` subclasses.

    Converters import official checkpoints (pickles, ``.pt`` files, weight
    manifests) into lswap's safetensors exports for ``lswap convert``.

    :param register: call ``register(cls)`` once per converter class.
    """


@hookspec
def lswap_register_assets(register: Register) -> None:
    """Declare the official pretrained files a plugin's components use.

    Each `lswap_core.assets.Asset` names its files with their source (a
    download URL, an npm package, or a page to download them from by hand),
    licence and SHA-256, and the conversions that turn them into exports;
    ``lswap weights list|fetch|verify`` and ``weights="ASSET"`` of
    ``lswap_core.load_*`` use them. Declare plain data only: the hook runs
    whenever assets are listed.

    :param register: call ``register(asset)`` once per `lswap_core.assets.Asset`.
    """


@hookspec
def lswap_register_commands(app: typer.Typer) -> None:
    """Add commands to the ``lswap`` command line.

    Use ``@app.command()`` or ``app.add_typer(sub_app, name=...)``. Command
    names must not clash with lswap's own commands or another plugin's.

    :param app: a Typer application whose commands are merged into ``lswap``.
    """
