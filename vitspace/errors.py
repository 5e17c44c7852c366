"""vitspace's errors: one base class for every error whose message is meant for the user.

Each subclass keeps the standard exception it refines as a parent (as huggingface_hub's errors do),
so code that catches ValueError or KeyError keeps working. Commands print the message and exit 2;
the app shows it as one sentence.
"""
import functools
import os
import sys

__all__ = ["VitspaceError", "ConfigError", "ImageError", "UnknownModelError", "WeightsUnavailableError",
           "UnsupportedModelError", "MissingBackendError", "FastPathUnavailable", "ExplainError", "CardError",
           "CardMetadataError", "PublishError", "CacheLimitError", "DiskFullError", "command", "reason"]


class VitspaceError(Exception):
    """An error whose message tells the user what went wrong and what to do."""


class ConfigError(VitspaceError, ValueError):
    """Arguments or settings that cannot work together."""


class ImageError(VitspaceError, ValueError):
    """An input that is not an image vitspace can read safely."""


class UnknownModelError(VitspaceError, KeyError):
    """A model name that is neither registered, nor a Hub model, nor a folder; the message says how to name one."""

    def __str__(self) -> str:
        return self.args[0]


class UnsupportedModelError(VitspaceError, ValueError):
    """A model that is not a ViT or DeiT image classifier vitspace can run; the message says what is supported."""


class WeightsUnavailableError(VitspaceError, RuntimeError):
    """The weights of a model cannot be had here; the message says how to provide them."""


class MissingBackendError(VitspaceError, ImportError):
    """An optional runtime is not installed; the message says what to install."""


class FastPathUnavailable(VitspaceError, RuntimeError):
    """The fast int8 path cannot be built or run here; the message says why."""


class ExplainError(VitspaceError, ValueError):
    """A model or request with no attention map to show (a convnet, the compiled int8 path)."""


class CardError(VitspaceError, ValueError):
    """A model card cannot be made from what was given."""


class CardMetadataError(CardError):
    """Card metadata the Hub would reject."""


class PublishError(VitspaceError, RuntimeError):
    """Publishing to the Hub failed; the message says why, never with the token."""


class CacheLimitError(VitspaceError, OSError):
    """A build that cannot fit in the build cache, said before it starts; the message says what would let it."""


class DiskFullError(VitspaceError, OSError):
    """A write that failed for lack of space: the build stopped and kept none of its files."""


def reason(e: BaseException) -> str:
    """One line for a manifest or a table: the error's first line and, for a runtime that stacks its messages
    (OpenVINO), its last, the cause."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    text = " ... ".join(dict.fromkeys([lines[0], lines[-1]])) if lines else ""
    return f"{type(e).__name__}: {text}"[:300]


def command(main):
    """A command's main: a VitspaceError (or a missing file) becomes `error: message` and exit status 2; a reader
    that closes the pipe early (`| head`) ends it quietly."""
    @functools.wraps(main)
    def run(argv=None) -> int:
        try:
            status = main(argv)
            sys.stdout.flush()  # inside the try: a closed pipe fails here, not at exit
            return status
        except (VitspaceError, FileNotFoundError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        except BrokenPipeError:  # `... | head`: the reader left; say nothing (the Python docs' recipe)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
    return run
