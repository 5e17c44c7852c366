"""The card's sections, one builder each: what the template shows of a build, a benchmark and a training
record. A builder returns None (or an empty list) when it has nothing to show, and the section is left out."""
import json
from pathlib import Path

from ..compress.manifest import Manifest
from ..export import VARIANTS
from ..models.labels import model_labels
from ..models.registry import ModelSpec
from ..train.record import CURVES, CURVES_FILE, embedded, table
from ._format import cell, kv, mb, num, pct
from .layout import repo_path
from .sources import eval_data_folder, own_model

__all__ = ["file_rows", "engine", "fidelity", "benchmark", "usage", "download", "training", "embedded_training",
           "distillation", "eval_results", "limitations"]

# train_config keys worth publishing, in order; paths (data, out, teacher) stay private
_RECIPE_KEYS = ("epochs", "batch_size", "opt", "lr", "min_lr", "weight_decay", "warmup_epochs", "label_smoothing",
                "distillation", "teacher_model", "alpha", "tau", "bf16", "seed", "limit_train", "limit_test")


# --- the build ------------------------------------------------------------------------------------

def file_rows(manifest: Manifest) -> tuple[list[dict], list[dict], list[dict]]:
    """The files table.

    Args:
        manifest: the build's manifest.

    Returns:
        (files that built, their notes, files that failed), as rows for the template; a file that built by its
        name in the build and its path in a published repository.
    """
    ok = [f for f in manifest.files if f.status == "ok"]
    files = [{"file": f.file, "path": repo_path(f.file), "format": f.format, "runtime": cell(f.runtime),
              "precision": f.precision, "size": mb(f.size_bytes), "size_bytes": f.size_bytes, "sha256": f.sha256,
              "sha256_short": f.sha256[:16], "passes": cell(", ".join(f.passes))} for f in ok]
    notes = [{"file": repo_path(f.file), "text": cell("; ".join(f.notes))} for f in ok if f.notes]
    failed = [{"file": f.file, "reason": f.reason or "unknown error"} for f in manifest.files if f.status != "ok"]
    return files, notes, failed


def engine(manifest: Manifest) -> str | None:
    """The quantized engine, where it matters: int8 TorchScript files run with the engine they were built for.

    Args:
        manifest: the build's manifest.

    Returns:
        The engine's name (x86, qnnpack...), or None when no int8 TorchScript file built.
    """
    int8_ts = any(f.status == "ok" and f.precision == "int8" and f.format.startswith("torchscript")
                  for f in manifest.files)
    return manifest.engine if int8_ts else None


def _source(manifest: Manifest) -> str:
    """Where the fidelity images came from, without the local path of an eval-data folder."""
    source = manifest.images.get("source", "")
    folder = eval_data_folder(source)
    return f"the image folder `{folder}`" if folder is not None else cell(source)


def fidelity(manifest: Manifest) -> dict | None:
    """How closely each built file agrees with the eager model.

    Args:
        manifest: the build's manifest.

    Returns:
        The images, their source, one row per file, the gate and the CPU; None when no file was measured.
    """
    ok = [f for f in manifest.files if f.status == "ok" and f.fidelity]
    if not ok:
        return None
    rows = [{"file": repo_path(f.file), "agreement": pct(f.fidelity.top1_agreement), "gate": f.gate or "",
             "max_diff": num(f.fidelity.max_abs_logit_diff), "mean_diff": num(f.fidelity.mean_abs_logit_diff),
             "accuracy": pct(f.fidelity.accuracy) if f.fidelity.accuracy is not None else ""} for f in ok]
    gate = manifest.gate_thresholds
    return {"images": ok[0].fidelity.images, "source": _source(manifest), "rows": rows,
            "gate": f"at least {gate['min_agreement']:.0%} top-1 agreement" + (
                f" on at least {gate['min_images']} images" if gate.get("min_images") else "") if gate else None,
            "cpu": cell(manifest.cpu.get("class", "")) if manifest.cpu else None,
            "has_accuracy": any(f.fidelity.accuracy is not None for f in ok)}


def benchmark(data: dict | None) -> dict | None:
    """The speed table.

    Args:
        data: a benchmark as `sources.load_benchmark` returns it, or None.

    Returns:
        The machine as key-value rows and one row per measured result; None without results.
    """
    if not data or not data.get("results"):
        return None

    def fmt(r: dict, key: str, f) -> str:
        return f(r[key]) if isinstance(r.get(key), (int, float)) else cell(r.get(key) or "")

    def peer(value) -> str:  # vitspace.bench.run writes a bool: the row is another tool's recipe
        return ("peer" if value else "") if isinstance(value, bool) else cell(value or "")

    measured = [r for r in data["results"] if r.get("status", "ok") == "ok"]  # skipped peers are not results
    rows = [{"variant": cell(r.get("variant") or ""), "runtime": cell(r.get("runtime") or ""),
             "peer": peer(r.get("peer")), "batch": fmt(r, "batch", str),
             "p50_ms": fmt(r, "p50_ms", "{:.2f}".format), "p90_ms": fmt(r, "p90_ms", "{:.2f}".format),
             "mean_ms": fmt(r, "mean_ms", "{:.2f}".format), "images_per_s": fmt(r, "images_per_s", "{:.1f}".format),
             "size": fmt(r, "size_bytes", mb), "agreement": fmt(r, "agreement", pct)} for r in measured]
    machine = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (data.get("machine") or {}).items()}
    return {"machine": kv(machine), "rows": rows, "has_peer": any(r["peer"] for r in rows)}


def usage(files: list[dict], size: int) -> list[dict]:
    """vitspace's own snippets: one per format, in the registry's order, from the first file of that format, which
    each names by its path in the repository.

    Args:
        files: the rows of `file_rows`.
        size: the input's height and width, in pixels.

    Returns:
        Title, language, file, its path, code and the other files of the format, per snippet.
    """
    by_format: dict[str, list[dict]] = {}
    for f in files:
        by_format.setdefault(f["format"], []).append(f)
    snippets = []
    for first, *others in by_format.values():
        variant = VARIANTS[first["file"]]
        snippets.append({"title": variant.title, "lang": variant.language, "file": first["file"], "path": first["path"],
                         "code": variant.snippet.format(file=first["path"], size=size).rstrip(),
                         "others": "with " + ", ".join(f"`{o['path']}`" for o in others) if others else ""})
    return snippets


def download(repo_id: str | None, snippet: dict | None) -> str | None:
    """Code that downloads the file of a snippet (with its companions) to the path the snippet names.

    Args:
        repo_id: the repository; None: no download code.
        snippet: one of `usage`'s.

    Returns:
        Python code, or None.
    """
    if not repo_id or not snippet:
        return None
    paths = [repo_path(f) for f in VARIANTS[snippet["file"]].files]
    lines = ["from huggingface_hub import hf_hub_download", ""]
    if len(paths) == 1:
        lines.append(f'hf_hub_download("{repo_id}", "{paths[0]}", local_dir=".")  # ./{paths[0]}')
    else:
        lines += [f"for path in {paths!r}:".replace("'", '"'),
                  f'    hf_hub_download("{repo_id}", path, local_dir=".")  # ./{paths[0]}, ...']
    return "\n".join(lines)


# --- the weights ----------------------------------------------------------------------------------

def training(record: dict | None) -> dict | None:
    """The training recipe and its results.

    Args:
        record: the weights' training record (`sources.load_training`), or None.

    Returns:
        The data set, the recipe and the results as key-value rows; None without a train_config.
    """
    if not record or not isinstance(record.get("train_config"), dict):
        return None
    cfg, metrics = record["train_config"], record.get("metrics") or {}
    distilled = cfg.get("distillation") not in (None, "none")
    shown = {k: cfg.get(k) for k in _RECIPE_KEYS
             if (distilled or k not in ("teacher_model", "alpha", "tau")) and not (k == "tau" and cfg.get(k) is None)}
    results = {}
    if metrics.get("test_top1") is not None:
        results["test top-1 accuracy"] = pct(metrics["test_top1"]) + (
            f" on {metrics['test_images']:,} CIFAR-10 test images" if metrics.get("test_images") else "")
    if metrics.get("epochs_done") is not None:
        results["epochs"] = f"{metrics['epochs_done']} of {metrics.get('epochs', metrics['epochs_done'])}"
    if metrics.get("train_seconds"):
        results["training time"] = f"{metrics['train_seconds'] / 3600:.2f} h"
    if metrics.get("mean_images_per_s"):
        results["throughput"] = f"{metrics['mean_images_per_s']:,} images/s"
    return {"data": "CIFAR-10", "config": kv({k: cell(v) for k, v in shown.items() if v is not None}),
            "results": kv(results)}


def embedded_training(spec: ModelSpec, pretrained: bool) -> dict | None:
    """The embedded teacher and students side by side.

    Args:
        spec: the model.
        pretrained: whether the build has real weights.

    Returns:
        Their table and the name of the training-curves figure (None where it is missing); None for a Hub
        model or random weights.
    """
    models = embedded() if spec.source == "embedded" and pretrained else []
    if not models:
        return None
    return {"table": table(models), "curves": CURVES_FILE if CURVES.is_file() else None}


def distillation(spec: ModelSpec, record: dict | None) -> dict | None:
    """How a DeiT learned from its teacher.

    Args:
        spec: the model.
        record: the weights' training record, or None.

    Returns:
        Teacher, mode, tau, data and loss weighting; None for a model that was not distilled.
    """
    if spec.family != "deit" or own_model(spec):  # how a user's DeiT learned is for its own card to say
        return None
    if spec.source == "hub":  # Touvron et al. 2021, the released *-distilled checkpoints
        return {"teacher": "RegNetY-16GF (84.0% ImageNet-1k top-1), a convnet", "mode": "hard",
                "alpha_desc": "the class head's cross-entropy and the distillation head's, weighted equally",
                "data": "ImageNet-1k", "tau": None}
    cfg = (record or {}).get("train_config") or {}
    mode = cfg.get("distillation")
    if mode in (None, "none"):
        return None
    alpha = cfg.get("alpha", 0.5)
    return {"teacher": f"`{cfg.get('teacher_model')}`, a convnet trained on CIFAR-10", "mode": mode,
            "tau": cfg.get("tau"), "data": "CIFAR-10", "by_epoch": _modes_by_epoch(record),
            "alpha_desc": f"{1 - alpha:g} x the class head's cross-entropy + {alpha:g} x the distillation loss"}


def _modes_by_epoch(record: dict) -> str | None:
    """"hard for epochs 1-6; soft, tau 3 for epochs 7-24" where a run changed its distillation on the way
    (the config holds the last mode only)."""
    parts = [p for p in (record.get("metrics") or {}).get("parts") or [] if p.get("distillation")]
    spans: list[list] = []
    for p in parts:
        if spans and spans[-1][0] == p["distillation"]:
            spans[-1][2] = p["epochs"][1]
        else:
            spans.append([p["distillation"], *p["epochs"]])
    if len(spans) < 2:
        return None
    return "; ".join(f"{mode} for epochs {first}-{last}" for mode, first, last in spans)


# --- what it is worth -----------------------------------------------------------------------------

def eval_results(manifest: Manifest, record: dict | None, dataset: tuple[str, str] | None) -> list[dict]:
    """The accuracies the Hub indexes: the eager model's on the test set, each file's on the fidelity images.

    Args:
        manifest: the build's manifest.
        record: the weights' training record, or None.
        dataset: (Hub id, display name) of the test set; None where it is not known (a user's model).

    Returns:
        `huggingface_hub.EvalResult` keyword arguments, one dict per result; none for random weights.
    """
    if not manifest.pretrained:
        return []  # random weights score at chance: nothing worth indexing
    results = []
    top1 = ((record or {}).get("metrics") or {}).get("test_top1")
    if top1 is not None and dataset:
        results.append(dict(task_type="image-classification", task_name="Image Classification",
                            dataset_type=dataset[0], dataset_name=dataset[1], dataset_split="test",
                            metric_type="accuracy", metric_name="Top-1 accuracy (eager fp32)",
                            metric_value=round(float(top1), 4)))
    source = str(manifest.images.get("source", ""))
    for f in manifest.files:
        if f.status == "ok" and f.fidelity and f.fidelity.accuracy is not None:
            results.append(dict(task_type="image-classification", task_name="Image Classification",
                                dataset_type="imagefolder", dataset_name=f"{Path(source).name} "
                                f"({f.fidelity.images} images)", metric_type="accuracy",
                                metric_name=f"Top-1 accuracy ({f.file})", metric_value=round(f.fidelity.accuracy, 4)))
    return results


def limitations(spec: ModelSpec, manifest: Manifest, record: dict | None) -> list[str]:
    """What the files cannot do, or what their figures do not show.

    Args:
        spec: the model.
        manifest: the build's manifest.
        record: the weights' training record, or None.

    Returns:
        One sentence per limitation.
    """
    items = []
    if not manifest.pretrained:
        items.append("Random weights: the files show size, speed and conversion fidelity only; "
                     "their labels are noise.")
    if spec.source == "embedded":
        items.append("Ten CIFAR-10 classes at 32x32 pixels: any other subject gets one of these ten labels, and "
                     "photos lose most detail when shrunk to 32x32.")
    elif own_model(spec):
        n = len(model_labels(spec))
        items.append(f"The model's own {n} class{'es' * (n != 1)} only: a photo of anything else still gets one of "
                     "them.")
        items.append("vitspace converted these weights and did not train them: what data they learned from, and how "
                     "well they do on it, is for the " + ("local folder's owner" if spec.source == "local"
                                                          else "base model's card") + " to say.")
    else:
        items.append("ImageNet-1k's 1000 classes only, with ImageNet's biases: a photo of anything else still "
                     "gets one of them.")
    metrics = (record or {}).get("metrics") or {}
    if manifest.pretrained and metrics.get("complete") is False:
        items.append(f"Training stopped after {metrics.get('epochs_done')} of {metrics.get('epochs')} epochs.")
    images = manifest.images.get("count")
    if images:
        items.append(f"Fidelity was measured on {images} images ({_source(manifest)}); "
                     "more images may show larger differences, int8 files above all.")
    formats = {f.format for f in manifest.files if f.status == "ok"}
    if formats & {"torchscript", "torchscript-lite"}:
        items.append("TorchScript and the lite interpreter are deprecated upstream in favour of ExecuTorch.")
    fixed = [f"`{f.file}`" for f in manifest.files if f.status == "ok" and f.file in VARIANTS
             and VARIANTS[f.file].fixed_batch]
    if fixed:
        items.append(f"{', '.join(fixed)}: batch size 1 only.")
    return items
