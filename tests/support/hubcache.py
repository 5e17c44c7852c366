"""A Hugging Face cache in the real layout, holding the Hub models vitspace names, with random weights.

`models--<org>--<name>/{blobs,snapshots/<commit>,refs/main}` as huggingface_hub writes it: each file a
blob named by its hash, linked from the snapshot. Architectures and labels are the real repositories'
(registry configs, ImageNet-1k's 1,000 labels); the image processors are the repositories' own files.
"""
import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import torch

from vitspace.models.registry import get_spec

from . import FIXTURES

HUB_FIXTURES = FIXTURES / "hub"
PROCESSORS = {"vit": HUB_FIXTURES / "vit-base" / "preprocessor_config.json",
              "deit": HUB_FIXTURES / "deit-base" / "preprocessor_config.json"}
COMMIT = "0" * 39 + "1"


def _add_repo(cache: Path, repo_id: str, files: Path) -> None:
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    for f in files.iterdir():
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        shutil.move(f, repo / "blobs" / digest)
        (snapshot / f.name).symlink_to(Path("..", "..", "blobs", digest))
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(COMMIT)


def build_hub_cache(cache: Path, names=("vit-base", "deit-base", "deit-tiny")) -> Path:
    torch.manual_seed(0)
    for name in names:
        spec = get_spec(name)
        model = spec.build().hf  # the transformers model inside vitspace's logits wrapper
        with tempfile.TemporaryDirectory() as tmp:
            model.save_pretrained(tmp)
            shutil.copy(PROCESSORS[spec.family], Path(tmp) / "preprocessor_config.json")
            config = json.loads((Path(tmp) / "config.json").read_text())
            assert len(config["id2label"]) == 1000
            _add_repo(cache, spec.repo_id, Path(tmp))
    return cache
