"""A build in a child process, for a process that runs for weeks (the app): what a build leaves in the process that
made it goes back to the system when the child ends. `torch.jit.trace` of a 2.9 M-parameter DeiT keeps about 14 MB
after the module is gone (docs/benchmarks.md, "A soak"), a base model's hundreds.

The parent sends the config as JSON and may write "stop" on the child's stdin (the Stop button: the build stops
before its next file); the child answers with one JSON event per line on its own channel (its stdout, while what
the libraries print goes to stderr): {"say": message} for progress, {"error": class, "message": sentence} when
the build failed. The manifest it wrote is the result.
"""
import json
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import asdict, fields
from pathlib import Path
from typing import Callable

from .. import errors

__all__ = ["compress_apart", "config_json", "config_from_json"]

STOP = "stop"


def config_json(config) -> str:
    """A CompressConfig as JSON, paths as text."""
    return json.dumps({k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()})


def config_from_json(text: str):
    """The CompressConfig that `config_json` wrote."""
    from .build import CompressConfig
    data = json.loads(text)
    paths = {f.name for f in fields(CompressConfig) if "Path" in str(f.type)}
    data = {k: (Path(v) if k in paths and v is not None else v) for k, v in data.items()}
    return CompressConfig(**{**data, "files": tuple(data["files"])})


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
    from ..util.background import child_env
    from .manifest import read_manifest
    say = progress or (lambda message: None)
    command = [sys.executable, "-m", __name__, config_json(config), *(["--resume"] if resume else []),
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


def _listen_for_stop(cancel: threading.Event) -> None:
    for line in sys.stdin:
        if line.strip() == STOP:
            cancel.set()
            return


def _child(argv: list[str]) -> int:
    """The child's side: build, sending progress and the outcome as events."""
    events = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # what torch, ExecuTorch or OpenVINO print goes to stderr, not into the events

    def send(**event) -> None:
        events.write(json.dumps(event) + "\n")

    from ..util.background import as_background_child
    as_background_child()
    import torch
    config = config_from_json(argv[0])
    if "--threads" in argv:
        torch.set_num_threads(int(argv[argv.index("--threads") + 1]))
    cancel = threading.Event()
    threading.Thread(target=_listen_for_stop, args=(cancel,), daemon=True).start()
    try:
        from ..classify.classifier import get_classifier
        from .build import compress
        from .manifest import read_manifest
        done = read_manifest(config.out).files if "--resume" in argv else ()
        compress(get_classifier(config.model, config.pretrained), config, progress=lambda m: send(say=m),
                 cancel=cancel, done=done)
    except Exception as e:
        send(error=type(e).__name__, message=str(e) or errors.reason(e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
