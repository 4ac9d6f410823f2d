"""Importing official checkpoints into safetensors exports (``lswap convert``)."""

from __future__ import annotations

from pathlib import Path

from .checkpoints import load_state_strict, save_export
from .errors import CheckpointError, InputError
from .interfaces import ConvertedWeights, Converter
from .files import sha256_of
from .legacy_pickle import load_checkpoint
from .official_files import file_head
from .kinds import KINDS
from .registry import build_config, get_registry


def find_converter(source: Path, format: str | None = None) -> Converter:
    """The converter named ``format``, or the single one that recognises ``source``."""
    registry = get_registry("converter")
    if format is not None:
        return registry.get(format).cls()
    matches = [entry for entry in registry.entries() if _sniffs(entry.cls, source)]
    if not matches:
        unreadable = _why_unreadable(source)
        if unreadable is not None:
            raise unreadable
        known = ", ".join(f"{e.name} ({e.description})" for e in registry.entries()) or "none installed"
        raise InputError(f"no converter recognises {source}", hint=f"formats: {known}")
    if len(matches) > 1:
        names = ", ".join(entry.name for entry in matches)
        raise InputError(f"several converters recognise {source}: {names}", hint="choose one with --format")
    return matches[0].cls()


def _why_unreadable(source: Path) -> CheckpointError | None:
    """For a checkpoint no converter recognised: the error reading it gives (code refused, a
    truncated file), which says more than "not recognised"; ``None`` when it reads."""
    head = file_head(source)
    looks_like_checkpoint = head.is_zip or head.head[:1] == b"\x80" or head.head[:4] == b"PK\x03\x04"
    if not source.is_file() or not looks_like_checkpoint:
        return None  # not a pickle or a torch.save archive (whole or cut short)
    try:
        load_checkpoint(source)
    except CheckpointError as exc:
        return exc
    return None


def _sniffs(cls: type[Converter], source: Path) -> bool:
    try:
        return bool(cls.sniff(source))
    except OSError:  # a converter that expects a file, shown a folder
        return False


def validate(result: ConvertedWeights, source: Path, converter: Converter | None = None) -> None:
    """Build the component the converter describes and load its tensors strictly."""
    if result.kind == "mixer":
        from .mixer import build_mixer  # the mixer is the host's own component

        load_state_strict(build_mixer(result.config), result.tensors, source=str(source))
        return
    spec = KINDS.get(result.kind)
    if spec is None or not spec.buildable:
        module = converter.build(result) if converter is not None else None  # a plugin's own network (Converter.build)
        if module is None:
            raise CheckpointError(f"converter produced an unknown component kind {result.kind!r}")
        load_state_strict(module, result.tensors, source=str(source))
        return
    entry = get_registry(result.kind).get(result.name)
    component = entry.cls(build_config(entry.cls, None, result.config))
    load_state_strict(component, result.tensors, source=str(source))


def convert(source: str | Path, output: str | Path, *, format: str | None = None) -> Path:
    """Convert an official checkpoint to an export; nothing is written unless it loads.

    :param source: the official file (``.pkl``, ``.pt``, weight manifest...), or a
        folder of files for converters that take one (a TF.js ``model/`` folder).
    :param output: the ``.safetensors`` file to write.
    :param format: a converter name; by default the one that recognises the file.
    """
    source, output = Path(source), Path(output)
    if not source.exists():
        raise InputError(f"{source} does not exist", hint="check the path")
    if output.suffix != ".safetensors":
        raise InputError(f"output {output} must end in .safetensors")
    converter = find_converter(source, format)
    result = converter.convert(source)
    validate(result, source, converter)
    provenance = {"source_file": source.name, "converter": converter.name}
    if source.is_file():
        provenance["source_sha256"] = sha256_of(source)
    provenance.update(result.provenance)
    return save_export(
        output, kind=result.kind, name=result.name, config=result.config, tensors=result.tensors, provenance=provenance
    )
