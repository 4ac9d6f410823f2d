"""The kinds of component a plugin can register: one table that everything reads.

The registry, ``lswap plugins list``, ``lswap convert`` and the ``load_*``
functions all take the kinds from `KINDS`. A new kind is a row here, its
interface class in `lswap_core.interfaces`, its hook in
`lswap_core.hookspecs` (a test checks the three agree) and, when it is built
from weights, a typed ``load_*`` line in `lswap_core.registry`.

Importing this module imports neither torch nor the interfaces: the base
class of a kind is named, and resolved only when a registry is filled.
"""

from __future__ import annotations

import dataclasses
import importlib

INTERFACES_MODULE = "lswap_core.interfaces"


@dataclasses.dataclass(frozen=True)
class KindSpec:
    """One kind of plugin component.

    :param name: the kind's key (``generator``, ``shape_model``...), stored in exports.
    :param label: how messages name it (``identity embedder``).
    :param hook: the hook through which plugins register classes of this kind.
    :param base: the class in `lswap_core.interfaces` those classes subclass.
    :param loader: the ``lswap_core`` function that builds one from weights or
        a config; ``None`` for kinds that are not built that way (converters).
    """

    name: str
    label: str
    hook: str
    base: str
    loader: str | None

    @property
    def buildable(self) -> bool:
        """Whether components of this kind are built from a config and weights (`load_component`)."""
        return self.loader is not None

    def base_class(self) -> type:
        """The interface class (imports torch)."""
        return getattr(importlib.import_module(INTERFACES_MODULE), self.base)


KINDS: dict[str, KindSpec] = {
    spec.name: spec
    for spec in (
        KindSpec("generator", "generator", "lswap_register_generators", "Generator", "load_generator"),
        KindSpec("inverter", "inverter", "lswap_register_inverters", "Inverter", "load_inverter"),
        KindSpec("embedder", "identity embedder", "lswap_register_embedders", "IdentityEmbedder", "load_embedder"),
        KindSpec("shape_model", "shape model", "lswap_register_shape_models", "ShapeModel", "load_shape_model"),
        KindSpec("editor", "editor", "lswap_register_editors", "Editor", "load_editor"),
        KindSpec("face_analyzer", "face analyzer", "lswap_register_face_analyzers", "FaceAnalyzer", "load_face_analyzer"),
        KindSpec("feature_network", "feature network", "lswap_register_feature_networks", "FeatureNetwork",
                 "load_feature_network"),
        KindSpec("converter", "converter", "lswap_register_converters", "Converter", None),
    )
}


def kind_spec(name: str) -> KindSpec:
    """The spec of kind ``name``; a `ValueError` names the kinds for anything else."""
    spec = KINDS.get(name)
    if spec is None:
        raise ValueError(f"unknown component kind {name!r}; kinds: {', '.join(KINDS)}")
    return spec


def label_of(name: str) -> str:
    """How messages name kind ``name``; unknown kinds (an export's ``mixer``...) by their key."""
    spec = KINDS.get(name)
    return spec.label if spec is not None else name.replace("_", " ")
