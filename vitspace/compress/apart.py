"""A build in a child process, for a process that runs for weeks (the app): what a build leaves in the process that
made it goes back to the system when the child ends. `torch.jit.trace` of a 2.9 M-parameter DeiT keeps about 14 MB
after the module is gone (docs/benchmarks.md, "A soak"), a base model's hundreds.

This module is the parent's side: it starts `python -m vitspace.compress.child` with the config as JSON and may
write "stop" on the child's stdin (the Stop button: the build stops before its next file); the child answers with
one JSON event per line on its own channel (its stdout, while what the libraries print goes to stderr): {"say":
message} for progress, {"error": class, "message": sentence} when the build failed. The manifest it wrote is the
result.
"""
import json
import subprocess
import sys
import tempfile
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from .. import errors
from ..util.background import child_env
from .manifest import read_manifest

__all__ = ["compress_apart", "config_json", "STOP", "CHILD"]

STOP = "stop"                       # the line on the child's stdin that stops the build
CHILD = "vitspace.compress.child"   # the child's module (python -m)


def config_json(config) -> str:
    """A CompressConfig as JSON, paths as text."""
    return json.dumps({k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()})


def _error(event: dict) -> Exception:
    """The child's error as the class it raised, when it is one of vitspace's (the page's sentence)."""
    cls = getattr(errors, event.get("error", ""), None)
    if isinstance(cls, type) and issubclass(cls, errors.VitspaceError):
        return cls(event["message"])
    return RuntimeError(event["message"])


def _event(line: str) -> dict:
    """One event; {} for anything else a library printed before the child moved its output to stderr."""
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return {}
    return event if isinstance(event, dict) else {}


def _stop_when(cancel: threading.Event, child: subprocess.Popen) -> None:
    while child.poll() is None:
        if cancel.wait(0.2):
            try:
                child.stdin.write(STOP + "\n")
                child.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):  # it ended meanwhile
                pass
            return


def _tail(stream) -> str:
    stream.seek(0)
    return stream.read().decode(errors="replace").strip()[-300:]


def compress_apart(config, *, resume: bool = False, threads: int | None = None,
                   progress: Callable[[str], None] | None = None, cancel: threading.Event | None = None):
    """`compress` of config into config.out in a child process (at low priority, ended with this one).

    Args:
        config: what to build (a CompressConfig).
        resume: keep the files of a stopped build in config.out, as its manifest lists them.
        threads: the child's torch threads (default: torch's default there).
        progress: called with each progress message of the build.
        cancel: when set, the build stops before its next file.

    Returns:
        The manifest the child wrote.

    Raises:
        the child's vitspace error (DiskFullError, ...) with its sentence; RuntimeError for any other failure.
    """
    say = progress or (lambda message: None)
    command = [sys.executable, "-m", CHILD, config_json(config), *(["--resume"] if resume else []),
               *(["--threads", str(threads)] if threads else [])]
    failure = None
    with tempfile.TemporaryFile() as err:
        child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True,
                                 env=child_env())
        try:
            if cancel is not None:
                threading.Thread(target=_stop_when, args=(cancel, child), daemon=True).start()
            for line in child.stdout:
                event = _event(line)
                if "say" in event:
                    say(event["say"])
                elif "error" in event:
                    failure = event
            child.wait()
        except BaseException:
            child.kill()
            child.wait()
            raise
        finally:
            for stream in (child.stdin, child.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
        if failure:
            raise _error(failure)
        if child.returncode != 0:
            raise RuntimeError(f"the build process ended with status {child.returncode}: {_tail(err)}")
    return read_manifest(config.out)
