"""The contract every lswap plugin meets.

A plugin provides component *classes*; the host builds them with
``lswap_core.load_generator(name, weights=..., **config)`` and friends. Each
component is a ``torch.nn.Module`` subclassing one ABC below, with

- ``name``: its registry name (lower case, letters, digits, ``-`` and ``_``);
- ``config_class``: a dataclass of its architecture options. The host builds
  it from YAML, ``--set`` overrides or keyword arguments, type-checked, and
  stores it in exports so that ``load_*(name, weights=export)`` needs nothing
  else. The constructor takes exactly one argument, that config;
- ``presets``: optional named sets of config values (``preset="tiny"``);
- its learned tensors in ``state_dict()``, which the host saves to and loads
  from safetensors exports (strict: missing or unexpected keys are errors).

Conventions shared by all components:

- Images are float tensors ``(N, 3, H, W)``, RGB, values in ``[-1, 1]`` (the
  generators' output range), on the component's device.
- Latent codes: ``z: (N, z_dim)``; ``ws: (N, num_ws, w_dim)`` (W+; a W code
  is the same row repeated).
- Every method must work on CPU; CUDA is used when the module is moved there.
- Methods that draw random numbers (`Generator.synthesis` with random noise,
  `Generator.sample_cameras`, `Generator.mean_w`, an inverter's start) take
  an explicit ``rng: torch.Generator`` and draw only from it, so the same
  ``rng`` state gives the same result on every run. Constructors draw initial
  values from torch's global generator, which the host seeds around them
  (``init_seed``) and restores afterwards.
"""

from __future__ import annotations

import abc
import copy
import dataclasses
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .conventions import ImageConvention, to_convention
from .errors import Cancelled, IncompatibleLatentError, InputError

NoiseMode = Literal["random", "const", "none"]
MEAN_W_CHUNK = 4096  # codes mapped at once by `Generator.mean_w`


@dataclasses.dataclass
class NoConfig:
    """Config of a component without options."""


class Component(nn.Module, metaclass=abc.ABCMeta):
    """Base of every model-backed plugin component.

    :param config: an instance of ``config_class``; defaults to its defaults.
    """

    kind: ClassVar[str]
    name: ClassVar[str]
    description: ClassVar[str] = ""  # one line, shown by ``lswap plugins list``
    config_class: ClassVar[type[Any]] = NoConfig
    presets: ClassVar[Mapping[str, Mapping[str, Any]]] = {}

    def __init__(self, config: Any = None) -> None:
        super().__init__()
        if config is None:
            config = self.config_class()
        if not isinstance(config, self.config_class):
            raise TypeError(
                f"{type(self).__name__} takes a {self.config_class.__name__}, got {type(config).__name__}"
            )
        self.config = config

    def config_dict(self) -> dict[str, Any]:
        """The config as plain data, as stored in exports."""
        return dataclasses.asdict(self.config)

    @property
    def device(self) -> torch.device:
        """Where the component's tensors live (CPU when it has none)."""
        for tensor in self.parameters():
            return tensor.device
        for tensor in self.buffers():
            return tensor.device
        return torch.device("cpu")


class Generator(Component):
    """A pretrained image generator with a style-based latent space.

    Implementations expose the mapping ``z -> ws`` and the synthesis
    ``ws -> images``; the latent mixer only ever sees ``ws``.
    """

    kind: ClassVar[str] = "generator"
    supports_camera: ClassVar[bool] = False  # True for 3D-aware generators (StyleNeRF)

    @property
    @abc.abstractmethod
    def num_ws(self) -> int:
        """Rows of the W+ code: one per synthesis layer input (18 for StyleGAN2 1024²)."""

    @property
    @abc.abstractmethod
    def w_dim(self) -> int:
        """Width of one W row (512 for the official networks)."""

    @property
    @abc.abstractmethod
    def z_dim(self) -> int:
        """Width of the input noise ``z``."""

    @property
    @abc.abstractmethod
    def resolution(self) -> int:
        """Side of the square output images, in pixels."""

    @property
    @abc.abstractmethod
    def layer_resolutions(self) -> tuple[int, ...]:
        """For each W+ row, the output resolution of the layer it drives.

        Length ``num_ws``. Layer groups (coarse, middle, fine) are computed
        from it, never hard-coded.
        """

    @property
    @abc.abstractmethod
    def w_avg(self) -> Tensor:
        """Mean W code, ``(w_dim,)``; truncation pulls codes towards it."""

    @abc.abstractmethod
    def mapping(
        self,
        z: Tensor,
        *,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
    ) -> Tensor:
        """Map noise to W+ codes; deterministic (what a 3D generator draws besides, such as a
        background latent, `synthesis` draws from its ``rng``).

        :param z: ``(N, z_dim)`` standard normal samples.
        :param truncation_psi: 1 keeps the codes, 0 returns ``w_avg``.
        :param truncation_cutoff: truncate only the first this many rows
            (``None``: all rows).
        :returns: ``ws`` of shape ``(N, num_ws, w_dim)``.
        """

    @abc.abstractmethod
    def synthesis(
        self,
        ws: Tensor,
        *,
        camera: Tensor | None = None,
        noise_mode: NoiseMode = "const",
        rng: torch.Generator | None = None,
    ) -> Tensor:
        """Render W+ codes.

        Differentiable with respect to ``ws``.

        :param ws: ``(N, num_ws, w_dim)``.
        :param camera: generator-specific camera parameters for 3D-aware
            generators, one row per code (see `sample_cameras`); ``None``
            uses the front view. Generators without ``supports_camera``
            reject a camera.
        :param noise_mode: per-pixel noise: ``"const"`` the stored buffers
            (deterministic), ``"random"`` fresh noise, ``"none"`` no noise.
        :param rng: where every random draw of the call comes from (random
            noise, a 3D generator's stochastic sampling), on the device of
            the generator; the same ``rng`` state gives the same images.
            ``None`` draws from torch's global generator.
        :returns: images ``(N, 3, resolution, resolution)`` in ``[-1, 1]``
            (values can overshoot slightly; clamp before saving).
        """

    def forward(self, z: Tensor, **synthesis_options: Any) -> Tensor:
        """``synthesis(mapping(z))`` with default truncation."""
        return self.synthesis(self.mapping(z), **synthesis_options)

    def noise_buffers(self) -> dict[str, Tensor]:
        """The per-pixel noise tensors ``noise_mode="const"`` adds, by ``state_dict`` name.

        In layer order (stable from call to call), and the module's own
        tensors, not copies: inverters such as PTI's projector re-draw and
        optimise them in place. Empty for generators without such noise.
        """
        return {}

    @torch.no_grad()
    def mean_w(self, samples: int = 10_000, *, rng: torch.Generator | None = None) -> Tensor:
        """The mean W code of ``samples`` draws of ``z ~ N(0, I)``, ``(w_dim,)``.

        What projectors start from and editors centre on; it differs from
        `w_avg` for a network that did not track its average. ``z`` is drawn
        on the CPU from ``rng`` (default: seeded with 0), so the result does
        not depend on the device.
        """
        rng = rng if rng is not None else torch.Generator().manual_seed(0)
        z = torch.randn(samples, self.z_dim, generator=rng)
        total = torch.zeros(self.w_dim, dtype=torch.float64, device=self.device)
        for chunk in z.split(MEAN_W_CHUNK):
            total += self.mapping(chunk.to(self.device))[:, 0].double().sum(dim=0)
        return (total / samples).float()

    def sample_cameras(self, n: int, *, rng: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` cameras from the generator's training pose distribution."""
        raise NotImplementedError(f"generator {self.name!r} has no camera")

    @property
    def named_views(self) -> Mapping[str, Tensor]:
        """Cameras by name (``front``, ``left``...) for 3D-aware generators."""
        return {}

    def orbit_cameras(self, frames: int) -> Tensor:
        """``frames`` cameras on a closed path around the front view (a turntable), for 3D-aware generators."""
        raise NotImplementedError(f"generator {self.name!r} has no camera")

    def check_ws(self, ws: Tensor) -> None:
        """Raise `IncompatibleLatentError` unless ``ws`` is ``(N, num_ws, w_dim)``."""
        if ws.ndim != 3 or tuple(ws.shape[1:]) != (self.num_ws, self.w_dim):
            raise IncompatibleLatentError(
                f"codes of shape {tuple(ws.shape)} do not fit generator {self.name!r}, "
                f"which takes (N, {self.num_ws}, {self.w_dim})",
                hint="use codes made for this generator (same resolution and w_dim)",
            )


class IdentityEmbedder(Component):
    """A face recognition network: images to identity embeddings.

    A plugin implements `forward`, the network alone, and declares its
    `input_convention`; the host's `embed` prepares any aligned image for it
    (`lswap_core.conventions.to_convention`, the same code for every
    embedder) and normalises the result. The losses compare embeddings by
    cosine similarity, so everything is differentiable with respect to the
    images.
    """

    kind: ClassVar[str] = "embedder"

    @property
    @abc.abstractmethod
    def embedding_dim(self) -> int:
        """Length ``D`` of an embedding."""

    @property
    @abc.abstractmethod
    def input_convention(self) -> ImageConvention:
        """The crop, size and value range the network was trained on."""

    @abc.abstractmethod
    def forward(self, images: Tensor) -> Tensor:
        """The network on images already in `input_convention`.

        :param images: ``(N, 3, *input_convention.size)`` in ``input_convention.value_range``.
        :returns: ``(N, embedding_dim)`` embeddings, normalised or not.
        """

    def prepare(self, images: Tensor) -> Tensor:
        """Aligned faces ``(N, 3, H, W)`` in ``[-1, 1]`` (any size) as the network sees them."""
        return to_convention(images, self.input_convention)

    def embed(self, images: Tensor) -> Tensor:
        """Embed aligned face images.

        :param images: ``(N, 3, H, W)`` in ``[-1, 1]``, any size; aligned like
            the generator's output (FFHQ alignment). Prepared with `prepare`.
        :returns: ``(N, embedding_dim)`` unit vectors.
        """
        return F.normalize(self(self.prepare(images)), dim=1)


@dataclasses.dataclass
class ShapeCoefficients:
    """3DMM coefficients split by meaning; every part is ``(N, dim)``."""

    identity: Tensor
    expression: Tensor
    pose: Tensor
    extra: Tensor  # model-specific rest: texture, lighting... (may have 0 columns)

    def to_tensor(self) -> Tensor:
        """All parts concatenated: identity, expression, pose, extra."""
        return torch.cat([self.identity, self.expression, self.pose, self.extra], dim=1)


class ShapeModel(Component):
    """A 3D morphable face model regressor, for the shape loss.

    Landmarks of the swapped face are compared with landmarks of a face that
    has the source's identity and the target's expression and pose.
    """

    kind: ClassVar[str] = "shape_model"

    @property
    @abc.abstractmethod
    def num_landmarks(self) -> int:
        """Landmarks returned by `landmarks` (68 for the usual annotation)."""

    @property
    @abc.abstractmethod
    def input_convention(self) -> ImageConvention:
        """The crop, size and value range the regressor was trained on."""

    @abc.abstractmethod
    def coefficients(self, images: Tensor) -> ShapeCoefficients:
        """Regress coefficients from ``(N, 3, H, W)`` images in ``[-1, 1]``.

        Differentiable with respect to the images.
        """

    @abc.abstractmethod
    def landmarks(self, coefficients: ShapeCoefficients) -> Tensor:
        """Landmarks of the reconstructed faces: ``(N, num_landmarks, 2 or 3)``,
        in pixels of the model's input image. Differentiable."""

    def fuse(self, source: ShapeCoefficients, target: ShapeCoefficients) -> ShapeCoefficients:
        """The source's identity with everything else from the target."""
        return ShapeCoefficients(
            identity=source.identity,
            expression=target.expression,
            pose=target.pose,
            extra=target.extra,
        )


@dataclasses.dataclass
class Inversion:
    """Result of inverting images into a generator.

    :param ws: ``(N, num_ws, w_dim)`` codes that reproduce the images.
    :param generator_state: the generator tensors the method tuned (PTI),
        by ``state_dict`` name; only those it changed. ``None`` when the
        generator is untouched.
    :param seconds: wall time of each stage of the method (``projection``,
        ``tuning``, ``encoding``...), for reports.
    """

    ws: Tensor
    generator_state: dict[str, Tensor] | None = None
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)

    def apply(self, generator: Generator) -> Generator:
        """A copy of ``generator`` with the tuned tensors loaded."""
        if not self.generator_state:
            return generator
        tuned = copy.deepcopy(generator)
        unknown = sorted(set(self.generator_state) - set(tuned.state_dict()))
        if unknown:
            raise IncompatibleLatentError(
                f"the inversion tuned tensors this generator lacks: {', '.join(unknown[:5])}",
                hint="apply it to the generator it was made with",
            )
        tuned.load_state_dict(self.generator_state, strict=False)
        return tuned


ProgressCallback = Callable[[int, int], None]  # (steps done, steps in all)


class Inverter(Component):
    """A GAN inversion method: real aligned images to codes (and maybe a tuned generator).

    Inversions are long jobs: `invert` reports each finished step to a
    ``progress`` callback and stops at the next step once its ``cancel``
    event is set (`report_step` does both), without touching the generator.
    """

    kind: ClassVar[str] = "inverter"
    tunes_generator: ClassVar[bool] = False  # True when `invert` returns a generator_state

    @abc.abstractmethod
    def invert(
        self,
        images: Tensor,
        generator: Generator,
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        rng: torch.Generator | None = None,
    ) -> Inversion:
        """Invert aligned images.

        :param images: ``(N, 3, H, W)`` in ``[-1, 1]``, aligned like the
            generator's training data; resized inside when ``H`` differs
            from ``generator.resolution``.
        :param generator: the generator to invert into; not modified.
        :param progress: called as ``progress(done, total)`` after each step.
        :param cancel: once set, the inversion raises `lswap_core.errors.Cancelled`
            at its next step.
        :param rng: where the method's random draws come from (its start, its
            noise); the same ``rng`` state gives the same inversion.
        """

    def report_step(
        self, done: int, total: int, progress: ProgressCallback | None, cancel: threading.Event | None
    ) -> None:
        """Call between steps: raise `Cancelled` once ``cancel`` is set, else report ``done`` of ``total``.

        Call it with ``done=0`` before the first step too, so a job cancelled
        before it starts does no work.
        """
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"inversion with {self.name!r} cancelled after {done} of {total} steps")
        if progress is not None and done > 0:
            progress(done, total)


class Editor(Component):
    """Semantic editing of codes along named directions.

    Directions belong to one generator's latent space: an editor knows the
    width of the codes it moves (and, when its directions are per row, how
    many rows), and refuses codes and generators of another shape.
    """

    kind: ClassVar[str] = "editor"

    @property
    @abc.abstractmethod
    def directions(self) -> tuple[str, ...]:
        """Names of the available directions (``smile``, ``age``, ``pc3``...)."""

    @property
    @abc.abstractmethod
    def w_dim(self) -> int:
        """Width of the codes the directions live in (the generator's ``w_dim``)."""

    @property
    def num_ws(self) -> int | None:
        """W+ rows the directions were made for; ``None`` when they apply to any number of rows."""
        return None

    @abc.abstractmethod
    def edit(
        self,
        ws: Tensor,
        direction: str,
        strength: float,
        layers: Sequence[int] | None = None,
    ) -> Tensor:
        """Move codes along a direction.

        :param ws: ``(N, num_ws, w_dim)``; check them with `check_ws`.
        :param direction: one of `directions`.
        :param strength: signed step, in the direction's own units.
        :param layers: W+ rows to edit; ``None`` edits the rows the
            direction was made for (all, by default).
        :returns: edited codes, same shape.
        """

    def check_direction(self, direction: str) -> None:
        """Raise `InputError` unless ``direction`` is known."""
        if direction not in self.directions:
            raise InputError(
                f"editor {self.name!r} has no direction {direction!r}",
                hint=f"choose one of: {', '.join(self.directions)}",
            )

    def check_generator(self, generator: Generator) -> None:
        """Raise `IncompatibleLatentError` unless the editor's directions fit ``generator``'s codes."""
        rows_fit = self.num_ws is None or self.num_ws == generator.num_ws
        if generator.w_dim != self.w_dim or not rows_fit:
            rows = f"{self.num_ws}×" if self.num_ws is not None else ""
            raise IncompatibleLatentError(
                f"editor {self.name!r} moves {rows}{self.w_dim} codes, but generator {generator.name!r} "
                f"uses {generator.num_ws}×{generator.w_dim}",
                hint="use directions made for this generator",
            )

    def check_ws(self, ws: Tensor) -> None:
        """Raise `IncompatibleLatentError` unless ``ws`` is ``(N, rows, w_dim)`` with the editor's rows."""
        rows_fit = self.num_ws is None or (ws.ndim == 3 and ws.shape[1] == self.num_ws)
        if ws.ndim != 3 or ws.shape[2] != self.w_dim or not rows_fit:
            rows = self.num_ws if self.num_ws is not None else "rows"
            raise IncompatibleLatentError(
                f"codes of shape {tuple(ws.shape)} do not fit editor {self.name!r}, which takes (N, {rows}, {self.w_dim})",
                hint="edit codes of the generator the directions were made for",
            )


@dataclasses.dataclass
class DetectedFace:
    """One face found in a photo.

    :param box: ``(left, top, right, bottom)`` in pixels of the input image.
    :param score: detection confidence in ``[0, 1]``.
    :param landmarks: ``(68, 2)`` points ``(x, y)`` in pixels, in the usual
        68-point (iBUG 300-W) order.
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: Tensor


class FaceAnalyzer(Component):
    """Finds faces and their 68 landmarks in photos (for alignment and paste-back)."""

    kind: ClassVar[str] = "face_analyzer"

    @abc.abstractmethod
    def detect(self, image: Tensor) -> list[DetectedFace]:
        """Find the faces in one image.

        :param image: ``(3, H, W)`` RGB in ``[-1, 1]``, any size.
        :returns: the faces, most confident first; empty when there is none.
        """

    @property
    def attribute_names(self) -> tuple[str, ...]:
        """The attributes `attributes` scores (``age``, ``gender``, ``happy``...); none by default."""
        return ()

    def attributes(self, images: Tensor) -> dict[str, Tensor]:
        """Scores of FFHQ-aligned faces ``(N, 3, H, W)`` in ``[-1, 1]``: one ``(N,)`` tensor per attribute name."""
        raise NotImplementedError(f"face analyzer {self.name!r} scores no attributes")

    def aligned_landmarks(self, images: Tensor) -> Tensor:
        """68 landmarks ``(N, 68, 2)`` in pixels of FFHQ-aligned faces ``(N, 3, H, W)`` in ``[-1, 1]``,
        found in the face's fixed place without detection (so every image gets an answer)."""
        raise NotImplementedError(f"face analyzer {self.name!r} finds no landmarks in aligned faces")

    def expression_vectors(self, images: Tensor) -> Tensor:
        """Expression features ``(N, K)`` of FFHQ-aligned faces ``(N, 3, H, W)`` in ``[-1, 1]``."""
        raise NotImplementedError(f"face analyzer {self.name!r} reads no expressions")


@dataclasses.dataclass
class ConvertedWeights:
    """What a `Converter` produces: tensors plus what is needed to rebuild the component.

    :param kind: component kind the tensors belong to (``generator``, ``mixer``...).
    :param name: registry name of the component class (``stylegan2``...).
    :param config: plain-data config for that class's ``config_class``.
    :param tensors: ``state_dict`` of the component.
    :param provenance: where the weights came from (source file, format, hash).
    """

    kind: str
    name: str
    config: dict[str, Any]
    tensors: dict[str, Tensor]
    provenance: dict[str, str]


class FeatureNetwork(Component):
    """Image features whose statistics compare image sets (FID, KID): the standard FID
    Inception-v3's pool features, or any network a plugin adds."""

    kind: ClassVar[str] = "feature_network"

    @property
    @abc.abstractmethod
    def feature_dim(self) -> int:
        """Width ``D`` of one feature vector (2048 for the FID Inception)."""

    @abc.abstractmethod
    def features(self, images: Tensor) -> Tensor:
        """``(N, D)`` float32 features of ``(N, 3, H, W)`` images in ``[-1, 1]``, any size (the network
        resizes to its own input inside)."""


class Converter(abc.ABC):
    """Reads one official checkpoint format; used by ``lswap convert``.

    Converters must never execute code stored in a file: official pickles are
    read with `lswap_core.legacy_pickle`.
    """

    kind: ClassVar[str] = "converter"
    name: ClassVar[str]
    description: ClassVar[str] = ""

    @classmethod
    @abc.abstractmethod
    def sniff(cls, path: Path) -> bool:
        """Cheaply tell whether ``path`` looks like this format (suffix, magic bytes)."""

    @abc.abstractmethod
    def convert(self, path: Path) -> ConvertedWeights:
        """Read ``path`` and return the component's tensors and config.

        Raise `lswap_core.errors.CheckpointError` naming what is wrong when
        the file holds something else.
        """

    def build(self, result: ConvertedWeights) -> nn.Module | None:
        """The module ``result`` loads into, for a ``kind`` that is no plugin component kind
        (a loss network a plugin uses itself); ``lswap convert`` loads the tensors into it
        strictly before writing the export. ``None`` (the default) for registry kinds."""
        return None
