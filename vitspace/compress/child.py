"""The child process of a build apart (`vitspace.compress.apart`): `python -m vitspace.compress.child CONFIG_JSON
[--resume] [--threads N]`, started by the app, not by people. It builds as `compress` does, at low priority and
ended with its parent; it sends its progress and outcome as JSON lines on its stdout (what the libraries print goes
to stderr) and stops before its next file when "stop" arrives on its stdin."""
import json
import os
import sys
import threading
from dataclasses import fields
from pathlib import Path

import torch

from ..classify.classifier import get_classifier
from ..errors import reason
from ..util.background import as_background_child
from .apart import STOP
from .build import CompressConfig, compress
from .manifest import read_manifest

__all__ = ["config_from_json", "main"]


def config_from_json(text: str):
    """The CompressConfig that `config_json` wrote."""
    data = json.loads(text)
    paths = {f.name for f in fields(CompressConfig) if "Path" in str(f.type)}
    data = {k: (Path(v) if k in paths and v is not None else v) for k, v in data.items()}
    return CompressConfig(**{**data, "files": tuple(data["files"])})


def _listen_for_stop(cancel: threading.Event) -> None:
    for line in sys.stdin:
        if line.strip() == STOP:
            cancel.set()
            return


def main(argv: list[str]) -> int:
    """Build, sending progress and the outcome as events; exit status 1 when the build failed."""
    events = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # what torch, ExecuTorch or OpenVINO print goes to stderr, not into the events

    def send(**event) -> None:
        events.write(json.dumps(event) + "\n")

    as_background_child()
    config = config_from_json(argv[0])
    if "--threads" in argv:
        torch.set_num_threads(int(argv[argv.index("--threads") + 1]))
    cancel = threading.Event()
    threading.Thread(target=_listen_for_stop, args=(cancel,), daemon=True).start()
    try:
        done = read_manifest(config.out).files if "--resume" in argv else ()
        compress(get_classifier(config.model, config.pretrained), config, progress=lambda m: send(say=m),
                 cancel=cancel, done=done)
    except Exception as e:
        send(error=type(e).__name__, message=str(e) or reason(e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
