"""The lswap error family.

Every error a user can cause is an `LswapError`. Its message is one line that
says what went wrong and what to do next; the CLI prints it in red and exits
with status 1 (``LSWAP_DEBUG=1`` shows the traceback). Anything else escaping
a command is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib


class LswapError(Exception):
    """Base class: a problem the user can fix.

    :param message: what went wrong, one line.
    :param hint: what to do next; appended to the message.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message}; {hint}" if hint else message)


class ConfigError(LswapError):
    """A config file or ``--set`` override is malformed, mistyped or unknown."""


class InputError(LswapError):
    """A file, image or argument given by the user cannot be used."""


class NoFaceError(InputError):
    """An image where a face was expected shows none."""


class SeveralFacesError(InputError):
    """An image shows several faces where one was expected and none was chosen."""


class PluginLoadError(LswapError):
    """A plugin failed to import or to register its components."""


class UnknownComponentError(LswapError):
    """No plugin registered a component under the requested name."""


class DuplicateComponentError(LswapError):
    """Two plugins registered a component under the same name."""


class CheckpointError(LswapError):
    """A checkpoint or export is missing, corrupt, of another kind or too new."""


class IncompatibleLatentError(LswapError):
    """Latent codes do not fit the generator (layer count, width or space)."""


class DownloadError(LswapError):
    """A pretrained asset could not be fetched or failed verification."""


class TrainingError(LswapError):
    """Training cannot go on (a non-finite loss, an unusable output folder)."""


class InversionError(LswapError):
    """An inversion cannot go on (a non-finite loss while projecting or tuning)."""


class Interrupted(LswapError):
    """The user stopped a job (Ctrl-C); the message says what was kept. The CLI exits with status 130."""


class TrainingInterrupted(Interrupted):
    """Ctrl-C: the run stopped after saving a resume state."""


class Cancelled(Interrupted):
    """A long job (an inversion...) stopped because its caller asked it to."""


def unknown_name_error(label: str, name: str, known: list[str]) -> UnknownComponentError:
    """Error for an unknown name, listing the known ones and the closest match.

    :param label: what was asked for (``identity embedder``, ``asset``...).
    """
    if not known:
        return UnknownComponentError(
            f"no {label} named {name!r}: no plugin provides {'an' if label[0] in 'aeiou' else 'a'} {label}",
            hint="see `lswap plugins list` for plugins that failed to load",
        )
    guesses = difflib.get_close_matches(name, known, n=1)
    hint = f"known: {', '.join(known)}"
    if guesses:
        hint = f"did you mean {guesses[0]!r}? {hint}"
    return UnknownComponentError(f"no {label} named {name!r}", hint=hint)
