"""Conformance tests for plugin components.

Built-in and third-party plugins subclass these in their own test suites
(pytest collects the inherited ``test_*`` methods)::

    from lswap_core.testing import GeneratorConformance

    class TestMyGenerator(GeneratorConformance):
        component_name = "my-generator"
        config = {"resolution": 32}        # keep it tiny: the kit runs on CPU

Each kit checks what every caller of the interface relies on: output shapes
and ranges, determinism under a seed, a safetensors export round trip, the
CPU path and gradients where the interface promises them. Override `build`
when the component needs more than ``load_*(name, preset=..., **config)``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
import torch
from torch import Tensor

from .checkpoints import save_component, save_export
from .conventions import to_convention
from .errors import Cancelled, IncompatibleLatentError, InputError
from .interfaces import (
    Component,
    Converter,
    ConvertedWeights,
    DetectedFace,
    Editor,
    FaceAnalyzer,
    FeatureNetwork,
    Generator,
    IdentityEmbedder,
    ImageConvention,
    Inverter,
    ShapeCoefficients,
    ShapeModel,
)
from .registry import get_registry, load_component, load_generator


def seeded(seed: int = 0) -> torch.Generator:
    """A CPU random number generator with a fixed seed."""
    return torch.Generator().manual_seed(seed)


def random_images(n: int, size: int, seed: int = 0) -> Tensor:
    """Smooth random ``[-1, 1]`` images (blurred noise, closer to photos than white noise)."""
    coarse = torch.rand(n, 3, max(size // 8, 2), max(size // 8, 2), generator=seeded(seed)) * 2 - 1
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)


class _ComponentConformance:
    kind: ClassVar[str]
    component_name: ClassVar[str]
    preset: ClassVar[str | None] = None
    config: ClassVar[dict[str, Any]] = {}
    atol: ClassVar[float] = 1e-5

    def build(self) -> Any:
        """The component under test, freshly built with fixed initial weights."""
        return load_component(self.kind, self.component_name, preset=self.preset, init_seed=0, **self.config)

    def test_registered_under_its_name(self) -> None:
        entry = get_registry(self.kind).get(self.component_name)
        assert entry.cls.name == self.component_name
        assert isinstance(self.build(), entry.cls)

    def test_same_seed_builds_same_weights(self) -> None:
        first, second = self.build().state_dict(), self.build().state_dict()
        assert first.keys() == second.keys()
        for key in first:
            assert torch.equal(first[key], second[key]), f"{key} differs between two builds under one seed"

    def test_export_round_trip(self, tmp_path: Path) -> None:
        component: Component = self.build()
        path = save_component(component, tmp_path / "component.safetensors")
        loaded = load_component(self.kind, self.component_name, weights=path)
        assert loaded.config == component.config
        original, restored = component.state_dict(), loaded.state_dict()
        assert original.keys() == restored.keys()
        for key in original:
            assert torch.equal(original[key], restored[key]), f"{key} changed in the export round trip"
        self.check_same_outputs(component, loaded)

    def check_same_outputs(self, first: Any, second: Any) -> None:
        """Called by the round-trip test: the two components must compute the same."""
        raise NotImplementedError


class GeneratorConformance(_ComponentConformance):
    """Conformance of a `Generator` plugin."""

    kind = "generator"
    batch: ClassVar[int] = 2
    output_bound: ClassVar[float] = 4.0  # random weights overshoot [-1, 1]; trained ones barely do

    def build(self) -> Generator:
        return super().build()

    def codes(self, generator: Generator, seed: int = 0) -> Tensor:
        z = torch.randn(self.batch, generator.z_dim, generator=seeded(seed))
        return generator.mapping(z)

    def test_declares_its_geometry(self) -> None:
        generator = self.build()
        resolutions = generator.layer_resolutions
        assert generator.num_ws == len(resolutions) > 0
        assert all(isinstance(r, int) and r > 0 for r in resolutions)
        assert list(resolutions) == sorted(resolutions), "layer_resolutions must not decrease"
        assert max(resolutions) <= generator.resolution
        assert generator.w_avg.shape == (generator.w_dim,)

    def test_mapping_shape_and_truncation(self) -> None:
        generator = self.build()
        z = torch.randn(self.batch, generator.z_dim, generator=seeded(1))
        with torch.no_grad():
            ws = generator.mapping(z)
            assert ws.shape == (self.batch, generator.num_ws, generator.w_dim)
            torch.manual_seed(1)  # the mapping draws nothing: the global generator plays no part
            assert torch.equal(generator.mapping(z), ws)
            at_mean = generator.mapping(z, truncation_psi=0.0)
            torch.testing.assert_close(at_mean, generator.w_avg.expand_as(at_mean), atol=self.atol, rtol=0)
            cutoff = max(generator.num_ws // 2, 1)
            partial = generator.mapping(z, truncation_psi=0.0, truncation_cutoff=cutoff)
            torch.testing.assert_close(partial[:, cutoff:], ws[:, cutoff:], atol=self.atol, rtol=0)
            torch.testing.assert_close(partial[:, :cutoff], at_mean[:, :cutoff], atol=self.atol, rtol=0)

    def test_synthesis_shape_and_range(self) -> None:
        generator = self.build()
        with torch.no_grad():
            images = generator.synthesis(self.codes(generator), noise_mode="const")
        assert images.shape == (self.batch, 3, generator.resolution, generator.resolution)
        assert images.dtype == torch.float32 and images.device.type == "cpu"
        assert torch.isfinite(images).all()
        assert images.abs().max() <= self.output_bound

    def test_deterministic_under_seed(self) -> None:
        generator = self.build()
        with torch.no_grad():
            ws = self.codes(generator, seed=3)
            first = generator.synthesis(ws, noise_mode="const")
            second = generator.synthesis(self.codes(generator, seed=3), noise_mode="const")
            noisy = generator.synthesis(ws, noise_mode="random", rng=seeded(7))
            torch.manual_seed(1)  # the global generator must play no part
            noisy_again = generator.synthesis(ws, noise_mode="random", rng=seeded(7))
        assert torch.equal(first, second)
        assert torch.equal(noisy, noisy_again)

    def test_noise_buffers_are_the_modules_own_in_a_stable_order(self) -> None:
        generator = self.build()
        buffers = generator.noise_buffers()
        assert list(buffers) == list(generator.noise_buffers())
        state = dict(generator.named_buffers())
        for name, tensor in buffers.items():
            assert name in state, f"{name} is not a buffer name of the generator"
            assert tensor is state[name], f"noise_buffers()[{name!r}] must be the buffer itself, not a copy"

    def test_mean_w_is_the_seeded_mean_code(self) -> None:
        generator = self.build()
        mean = generator.mean_w(64, rng=seeded(2))
        assert mean.shape == (generator.w_dim,)
        assert torch.equal(mean, generator.mean_w(64, rng=seeded(2)))
        z = torch.randn(64, generator.z_dim, generator=seeded(2))
        with torch.no_grad():
            expected = generator.mapping(z)[:, 0].mean(dim=0)
        torch.testing.assert_close(mean, expected, atol=self.atol, rtol=1e-4)

    def test_cameras(self) -> None:
        """Shapes, determinism under a seed, distinct named views, and a view that repeats exactly."""
        generator = self.build()
        with torch.no_grad():
            ws = self.codes(generator)
            if not generator.supports_camera:
                with pytest.raises(InputError):
                    generator.synthesis(ws, camera=torch.zeros(self.batch, 2))
                return
            cameras = generator.sample_cameras(self.batch, rng=seeded(4))
            assert cameras.shape[0] == self.batch
            assert torch.equal(cameras, generator.sample_cameras(self.batch, rng=seeded(4)))
            views = generator.named_views
            assert "front" in views, "a 3D-aware generator names at least its front view"
            images = {}
            for name, view in views.items():
                camera = view.expand(self.batch, *view.shape[1:]) if view.shape[0] == 1 else view
                images[name] = generator.synthesis(ws, camera=camera, noise_mode="const")
                assert images[name].shape == (self.batch, 3, generator.resolution, generator.resolution)
            front = views["front"].expand(self.batch, *views["front"].shape[1:])
            assert torch.equal(generator.synthesis(ws, camera=front, noise_mode="const"), images["front"]), (
                "the same view must render the same image"
            )
            sampled = generator.synthesis(ws, camera=cameras, noise_mode="random", rng=seeded(5))
            torch.manual_seed(2)  # the global generator must play no part
            again = generator.synthesis(ws, camera=cameras, noise_mode="random", rng=seeded(5))
        assert sampled.shape == (self.batch, 3, generator.resolution, generator.resolution)
        assert torch.isfinite(sampled).all()
        assert torch.equal(sampled, again), "the same cameras and rng must render the same images"
        names = list(images)
        for i, first in enumerate(names):
            for second in names[i + 1 :]:
                assert not torch.allclose(images[first], images[second]), f"views {first} and {second} render the same image"

    def test_gradients_reach_the_codes(self) -> None:
        generator = self.build()
        ws = self.codes(generator).detach().requires_grad_(True)
        generator.synthesis(ws, noise_mode="const").square().mean().backward()
        assert ws.grad is not None and torch.isfinite(ws.grad).all() and ws.grad.abs().sum() > 0

    def test_rejects_codes_of_another_shape(self) -> None:
        generator = self.build()
        wrong = torch.zeros(1, generator.num_ws + 1, generator.w_dim)
        with pytest.raises(IncompatibleLatentError):
            generator.synthesis(wrong)

    def check_same_outputs(self, first: Generator, second: Generator) -> None:
        with torch.no_grad():
            ws = self.codes(first)
            assert torch.equal(first.synthesis(ws, noise_mode="const"), second.synthesis(ws, noise_mode="const"))


class EmbedderConformance(_ComponentConformance):
    """Conformance of an `IdentityEmbedder` plugin."""

    kind = "embedder"
    image_sizes: ClassVar[tuple[int, ...]] = (64, 96)

    def build(self) -> IdentityEmbedder:
        return super().build()

    def test_declares_its_convention(self) -> None:
        embedder = self.build()
        convention = embedder.input_convention
        assert isinstance(convention, ImageConvention)
        assert all(side > 0 for side in convention.size)
        assert embedder.embedding_dim > 0

    def test_unit_embeddings_for_any_size(self) -> None:
        embedder = self.build()
        for size in self.image_sizes:
            with torch.no_grad():
                embeddings = embedder.embed(random_images(3, size))
            assert embeddings.shape == (3, embedder.embedding_dim)
            torch.testing.assert_close(embeddings.norm(dim=1), torch.ones(3), atol=1e-4, rtol=0)

    def test_embed_prepares_images_with_the_declared_convention(self) -> None:
        embedder = self.build()
        images = random_images(2, self.image_sizes[-1], seed=6)
        convention = embedder.input_convention
        with torch.no_grad():
            prepared = to_convention(images, convention)
            assert prepared.shape == (2, 3, *convention.size)
            expected = torch.nn.functional.normalize(embedder(prepared), dim=1)
            torch.testing.assert_close(embedder.embed(images), expected, atol=1e-6, rtol=0)

    def test_deterministic(self) -> None:
        embedder = self.build()
        images = random_images(2, self.image_sizes[0], seed=5)
        with torch.no_grad():
            assert torch.equal(embedder.embed(images), embedder.embed(images))

    def test_differentiable_in_the_images(self) -> None:
        embedder = self.build()
        images = random_images(2, self.image_sizes[0]).requires_grad_(True)
        embedder.embed(images)[:, 0].sum().backward()
        assert images.grad is not None and torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0

    def check_same_outputs(self, first: IdentityEmbedder, second: IdentityEmbedder) -> None:
        images = random_images(2, self.image_sizes[0])
        with torch.no_grad():
            assert torch.equal(first.embed(images), second.embed(images))


class ShapeModelConformance(_ComponentConformance):
    """Conformance of a `ShapeModel` plugin."""

    kind = "shape_model"
    image_size: ClassVar[int] = 64

    def build(self) -> ShapeModel:
        return super().build()

    def test_coefficients_and_landmarks(self) -> None:
        model = self.build()
        with torch.no_grad():
            coefficients = model.coefficients(random_images(2, self.image_size))
            assert isinstance(coefficients, ShapeCoefficients)
            for part in (coefficients.identity, coefficients.expression, coefficients.pose, coefficients.extra):
                assert part.ndim == 2 and part.shape[0] == 2
            landmarks = model.landmarks(coefficients)
        assert landmarks.shape[:2] == (2, model.num_landmarks) and landmarks.shape[2] in (2, 3)
        assert torch.isfinite(landmarks).all()

    def test_fuse_takes_source_identity_and_target_rest(self) -> None:
        model = self.build()
        with torch.no_grad():
            source = model.coefficients(random_images(2, self.image_size, seed=1))
            target = model.coefficients(random_images(2, self.image_size, seed=2))
        fused = model.fuse(source, target)
        assert torch.equal(fused.identity, source.identity)
        assert torch.equal(fused.expression, target.expression)
        assert torch.equal(fused.pose, target.pose)

    def test_landmarks_differentiable_in_the_images(self) -> None:
        model = self.build()
        images = random_images(2, self.image_size).requires_grad_(True)
        model.landmarks(model.coefficients(images)).sum().backward()
        assert images.grad is not None and torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0

    def check_same_outputs(self, first: ShapeModel, second: ShapeModel) -> None:
        images = random_images(2, self.image_size)
        with torch.no_grad():
            assert torch.equal(first.coefficients(images).to_tensor(), second.coefficients(images).to_tensor())


class InverterConformance(_ComponentConformance):
    """Conformance of an `Inverter` plugin, inverting into a small generator."""

    kind = "inverter"
    generator_name: ClassVar[str]
    generator_config: ClassVar[dict[str, Any]] = {}
    generator_preset: ClassVar[str | None] = None

    def build(self) -> Inverter:
        return super().build()

    def build_generator(self) -> Generator:
        return load_generator(self.generator_name, preset=self.generator_preset, init_seed=1, **self.generator_config)

    def target_images(self, generator: Generator) -> Tensor:
        with torch.no_grad():
            return generator.synthesis(generator.mapping(torch.randn(2, generator.z_dim, generator=seeded()))).clamp(-1, 1)

    def test_inverts_to_codes_without_touching_the_generator(self) -> None:
        inverter, generator = self.build(), self.build_generator()
        before = {k: v.clone() for k, v in generator.state_dict().items()}
        images = self.target_images(generator)
        reports: list[tuple[int, int]] = []
        inversion = inverter.invert(images, generator, progress=lambda done, total: reports.append((done, total)), rng=seeded(2))
        assert inversion.ws.shape == (2, generator.num_ws, generator.w_dim)
        assert torch.isfinite(inversion.ws).all()
        for key, value in generator.state_dict().items():
            assert torch.equal(value, before[key]), f"invert() modified the generator's {key}"
        assert reports, "invert() must report its progress"
        assert [done for done, _ in reports] == sorted({done for done, _ in reports}), "progress must only move forward"
        assert reports[-1][0] == reports[-1][1], "the last report must say every step is done"
        if inverter.tunes_generator:
            assert inversion.generator_state, "an inverter that tunes the generator must return its state"
            assert set(inversion.generator_state) <= set(before)
            tuned = inversion.apply(generator)
            assert tuned.synthesis(inversion.ws).shape == images.shape
        else:
            assert inversion.generator_state is None

    def test_same_rng_same_inversion(self) -> None:
        inverter, generator = self.build(), self.build_generator()
        images = self.target_images(generator)
        first = inverter.invert(images, generator, rng=seeded(3))
        torch.manual_seed(5)  # the global generator must play no part
        second = inverter.invert(images, generator, rng=seeded(3))
        assert torch.equal(first.ws, second.ws)

    def test_a_cancelled_inversion_stops_at_the_next_step(self) -> None:
        inverter, generator = self.build(), self.build_generator()
        before = {k: v.clone() for k, v in generator.state_dict().items()}
        images = self.target_images(generator)
        cancel = threading.Event()
        cancel.set()
        with pytest.raises(Cancelled):
            inverter.invert(images, generator, progress=lambda done, total: pytest.fail("no step may run"), cancel=cancel)
        cancel.clear()
        reports: list[int] = []

        def cancel_after_first(done: int, total: int) -> None:
            reports.append(done)
            cancel.set()

        with pytest.raises(Cancelled):
            inverter.invert(images, generator, progress=cancel_after_first, cancel=cancel)
        assert len(reports) == 1, "the inversion must stop at the step after the cancellation"
        for key, value in generator.state_dict().items():
            assert torch.equal(value, before[key]), f"a cancelled invert() modified the generator's {key}"

    def check_same_outputs(self, first: Inverter, second: Inverter) -> None:
        generator = self.build_generator()
        images = self.target_images(generator)
        assert torch.equal(first.invert(images, generator, rng=seeded(4)).ws, second.invert(images, generator, rng=seeded(4)).ws)


class EditorConformance(_ComponentConformance):
    """Conformance of an `Editor` plugin, editing the codes of a small generator it fits."""

    kind = "editor"
    generator_name: ClassVar[str]
    generator_config: ClassVar[dict[str, Any]] = {}
    generator_preset: ClassVar[str | None] = None

    def build(self) -> Editor:
        return super().build()

    def build_generator(self) -> Generator:
        return load_generator(self.generator_name, preset=self.generator_preset, init_seed=1, **self.generator_config)

    def codes(self) -> Tensor:
        generator = self.build_generator()
        with torch.no_grad():
            return generator.mapping(torch.randn(2, generator.z_dim, generator=seeded()))

    def test_fits_its_generator_and_refuses_others(self) -> None:
        editor, generator = self.build(), self.build_generator()
        editor.check_generator(generator)
        wider = SimpleNamespace(name="other", num_ws=generator.num_ws, w_dim=editor.w_dim + 1)
        with pytest.raises(IncompatibleLatentError):
            editor.check_generator(wider)  # type: ignore[arg-type]
        ws = self.codes()
        with pytest.raises(IncompatibleLatentError):
            editor.edit(torch.zeros(*ws.shape[:2], editor.w_dim + 1), editor.directions[0], 1.0)

    def test_edits_keep_shape_and_zero_strength_is_identity(self) -> None:
        editor = self.build()
        assert editor.directions, "an editor must offer at least one direction"
        ws = self.codes()
        for direction in editor.directions:
            edited = editor.edit(ws, direction, 1.0)
            assert edited.shape == ws.shape
            assert not torch.allclose(edited, ws), f"direction {direction!r} moves nothing"
            torch.testing.assert_close(editor.edit(ws, direction, 0.0), ws)

    def test_edits_only_the_chosen_layers(self) -> None:
        editor = self.build()
        ws = self.codes()
        edited = editor.edit(ws, editor.directions[0], 2.0, layers=[0])
        torch.testing.assert_close(edited[:, 1:], ws[:, 1:])

    def test_unknown_direction_is_a_clear_error(self) -> None:
        with pytest.raises(InputError):
            self.build().edit(self.codes(), "no-such-direction", 1.0)

    def check_same_outputs(self, first: Editor, second: Editor) -> None:
        ws = self.codes()
        direction = first.directions[0]
        assert torch.equal(first.edit(ws, direction, 1.5), second.edit(ws, direction, 1.5))


class FaceAnalyzerConformance(_ComponentConformance):
    """Conformance of a `FaceAnalyzer` plugin.

    `face_image` returns a ``(3, H, W)`` image with at least one face; with
    random weights, override it to return what the analyzer finds.
    """

    kind = "face_analyzer"

    def build(self) -> FaceAnalyzer:
        return super().build()

    def face_image(self) -> Tensor:
        return random_images(1, 128)[0]

    def test_detections_are_well_formed(self) -> None:
        analyzer = self.build()
        with torch.no_grad():
            faces = analyzer.detect(self.face_image())
        scores = [face.score for face in faces]
        assert scores == sorted(scores, reverse=True)
        for face in faces:
            assert isinstance(face, DetectedFace)
            left, top, right, bottom = face.box
            assert left < right and top < bottom and 0 <= face.score <= 1
            assert face.landmarks.shape == (68, 2) and torch.isfinite(face.landmarks).all()

    def test_grayscale_and_blank_images_do_not_crash(self) -> None:
        analyzer = self.build()
        with torch.no_grad():
            gray = self.face_image().mean(dim=0, keepdim=True).expand(3, -1, -1)
            assert isinstance(analyzer.detect(gray), list)
            assert isinstance(analyzer.detect(torch.zeros(3, 64, 64)), list)

    def check_same_outputs(self, first: FaceAnalyzer, second: FaceAnalyzer) -> None:
        image = self.face_image()
        with torch.no_grad():
            a, b = first.detect(image), second.detect(image)
        assert [f.box for f in a] == [f.box for f in b]


class FeatureNetworkConformance(_ComponentConformance):
    """Conformance of a `FeatureNetwork` plugin: ``(N, D)`` float32 features of any image size."""

    kind = "feature_network"

    def build(self) -> FeatureNetwork:
        return super().build()

    def test_features_have_the_declared_width(self) -> None:
        network = self.build()
        with torch.no_grad():
            for size in (48, 80):
                features = network.features(random_images(2, size))
                assert features.shape == (2, network.feature_dim) and features.dtype == torch.float32
                assert torch.isfinite(features).all()

    def check_same_outputs(self, first: FeatureNetwork, second: FeatureNetwork) -> None:
        images = random_images(2, 64)
        with torch.no_grad():
            torch.testing.assert_close(first.features(images), second.features(images), rtol=0, atol=self.atol)


class ConverterConformance:
    """Conformance of a `Converter` plugin; `make_sample` writes a small file in the official format."""

    converter_name: ClassVar[str]

    def make_sample(self, folder: Path) -> Path:
        raise NotImplementedError

    def converter(self) -> Converter:
        return get_registry("converter").get(self.converter_name).cls()

    def test_recognises_its_format_only(self, tmp_path: Path) -> None:
        sample = self.make_sample(tmp_path)
        assert type(self.converter()).sniff(sample)
        other = tmp_path / "other.bin"
        other.write_bytes(b"\x00not a checkpoint\x00" * 8)
        assert not type(self.converter()).sniff(other)

    def test_converts_to_a_loadable_export(self, tmp_path: Path) -> None:
        from .checkpoints import read_export
        from .convert import validate

        sample = self.make_sample(tmp_path)
        converter = self.converter()
        result = converter.convert(sample)
        assert isinstance(result, ConvertedWeights)
        validate(result, sample, converter)  # builds the component and loads the tensors strictly
        path = save_export(
            tmp_path / "converted.safetensors",
            kind=result.kind,
            name=result.name,
            config=result.config,
            tensors=result.tensors,
            provenance=result.provenance,
        )
        export = read_export(path)
        assert (export.kind, export.name) == (result.kind, result.name)
