"""A run's weights for use: RUN/model.safetensors with its JSON (config, labels, metrics, log), and the
install of a run into the package's embedded weights, evaluated on the test folder."""
import dataclasses
import json
from pathlib import Path

from safetensors.torch import load_file, save_file

from ..classify.accuracy import evaluate
from ..classify.classifier import Classifier, build_preprocess
from ..errors import ConfigError
from ..models.registry import WEIGHTS_DIR, get_spec
from ..util import atomic
from ..util.cpuinfo import machine_class
from .checkpoint import load_checkpoint
from .config import TrainConfig
from .record import summary

__all__ = ["save_weights", "write_weights", "install", "add_evaluation"]


def save_weights(run: str | Path, dest: str | Path | None = None, name: str = "model") -> Path:
    """A run's last checkpoint as DEST/NAME.safetensors (float16) with NAME.json (config, labels, metrics, log).

    Args:
        run: the run folder, with last.pt.
        dest: where to write (default: the run folder).
        name: the files' stem.

    Returns:
        The path of the safetensors file.
    """
    ckpt = load_checkpoint(run)
    cfg = TrainConfig.from_dict(ckpt["config"])
    earlier = len(ckpt["history"]) - ckpt["epoch"]  # epochs that made its --init-from weights
    metrics = summary(ckpt["history"], epochs=earlier + cfg.epochs, threads=cfg.threads,
                      test_images=ckpt.get("test_images"))
    return write_weights(ckpt, metrics, dest or run, name)


def write_weights(ckpt: dict, metrics: dict, dest: str | Path, name: str) -> Path:
    """A checkpoint's weights as DEST/NAME.safetensors (float16) with NAME.json (config, labels, metrics, log).

    Args:
        ckpt: a loaded checkpoint: its `model` (or `ema`, the average, where the run kept one), `config` (with the
            registry's `model` name) and `history`.
        metrics: the run's metrics, as the JSON keeps them.
        dest: where to write.
        name: the files' stem.

    Returns:
        The path of the safetensors file.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    # float16 halves the committed files; loading casts back to float32 (accuracy unchanged to 0.1 point)
    weights = ckpt.get("ema") or ckpt["model"]
    state = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in weights.items()}
    save_file(state, str(dest / f"{name}.safetensors"))
    model = ckpt["config"]["model"]
    spec = get_spec(model)
    meta = {"model": model, "labels": list(spec.labels), "pretrained_cfg": spec.data_cfg, "dtype": "float16",
            "params": sum(v.numel() for v in weights.values()), "train_config": ckpt["config"],
            "metrics": metrics, "history": ckpt["history"]}
    atomic.write_text(dest / f"{name}.json", json.dumps(meta, indent=2))
    return dest / f"{name}.safetensors"


def _classifier(name: str, weights: Path) -> Classifier:
    """The registry's classifier for `name` (its preprocessing and labels) with the weights in `weights`."""
    spec = get_spec(name)
    module = spec.build()
    module.load_state_dict(load_file(str(weights)))
    return Classifier(spec, module.eval(), build_preprocess(spec), list(spec.labels), origin="local")


def install(run: str | Path, data: str | Path | None = None, dest: str | Path | None = None,
            limit: int | None = None) -> Path:
    """Save a run's weights into the package as <model>.safetensors and <model>.json, with the accuracy
    `vitspace.classify.accuracy` measures on DATA/test and the machine that measured it.

    Args:
        run: the run folder, with last.pt.
        data: ImageFolder root whose test/ scores the weights; None installs them unevaluated.
        dest: where to write (default: vitspace/models/weights).
        limit: score at most this many test images.

    Returns:
        The path of the safetensors file.

    Raises:
        ConfigError: the run trained a --stem patch student, which the registry's architecture cannot load.
    """
    config = load_checkpoint(run)["config"]
    if config.get("stem", "conv") != "conv":
        raise ConfigError(f"{run} trained a --stem {config['stem']} student; {config['model']} has the convolutional "
                          "stem, so only its run folder holds these weights (--export-only)")
    path = save_weights(run, dest or WEIGHTS_DIR, config["model"])
    if data:
        add_evaluation(path, data, limit)
    return path


def add_evaluation(path: Path, data: str | Path, limit: int | None = None) -> None:
    """Score installed weights with `vitspace.classify.accuracy` on DATA/test and add the result, with the
    machine that measured it, to their JSON as `evaluate`.

    Args:
        path: <model>.safetensors, with <model>.json beside it; <model> names the registry's architecture.
        data: ImageFolder root whose test/ scores the weights.
        limit: score at most this many test images.
    """
    model, meta_path = path.stem, path.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    result = evaluate(_classifier(model, path), str(Path(data) / "test"), limit=limit)
    meta["evaluate"] = {**dataclasses.asdict(result), "model": model, "machine": machine_class()}
    atomic.write_text(meta_path, json.dumps(meta, indent=2))


def print_weights(path: Path) -> None:
    """What an export or install prints: the weights file, then its model and metrics as one JSON line."""
    meta = json.loads(path.with_suffix(".json").read_text())
    print(path)
    print(json.dumps({"model": meta["model"], **meta["metrics"], "evaluate": meta.get("evaluate")}))
