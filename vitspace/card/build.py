"""Model cards for compressed builds: `python -m vitspace.card --model NAME --artifacts DIR [...]`.

The card is `templates/modelcard.md` rendered by huggingface_hub's `ModelCard.from_template`, its
YAML front matter a `ModelCardData`. It draws on the build's manifest.json (files, sizes, hashes,
fidelity), an optional benchmark JSON and, for embedded models with real weights, the weights'
JSON sidecar (training recipe and test accuracy). A section without data is left out.

Prints the card, or writes it with --out (an existing file is kept unless --force). Exit status 2
on bad arguments or unusable artifacts.
"""
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..compress.manifest import Manifest
from ..errors import CardError
from ..export import VARIANTS, usage_snippet
from ..models.labels import model_labels
from ..models.registry import ModelSpec, get_spec
from ..train.record import CURVES, CURVES_FILE, embedded, table
from ..util import atomic
from .sources import load_benchmark, load_manifest, load_training, preprocessing_steps

__all__ = ["CardContext", "card_context", "build_card", "render_card", "card_preview", "load_benchmark",
           "preprocessing_steps", "TEMPLATE", "LICENSE"]

TEMPLATE = Path(__file__).resolve().parents[2] / "templates" / "modelcard.md"
# vitspace's own license, and that of google/vit-* and facebook/deit-* weights on the Hub
LICENSE = "apache-2.0"
# the files are TorchScript, ExecuTorch and ONNX exports, none of which timm or transformers can load,
# so neither is claimed: that would give the Hub page a "Use this model" snippet that fails
LIBRARY_NAME = "pytorch"
CARD_DIR = "card"   # card_preview writes ARTIFACTS/card/README.md, never a README beside other files

_FAMILY_NAMES = {"vit": "ViT", "deit": "DeiT", "cnn": "CNN"}
_CIFAR10 = ("uoft-cs/cifar10", "CIFAR-10")
_IMAGENET = ("ILSVRC/imagenet-1k", "ImageNet-1k")
# train_config keys worth publishing, in order; paths (data, out, teacher) stay private
_RECIPE_KEYS = ("epochs", "batch_size", "opt", "lr", "min_lr", "weight_decay", "warmup_epochs", "label_smoothing",
                "distillation", "teacher_model", "alpha", "tau", "bf16", "seed", "limit_train", "limit_test")


# --- formatting -----------------------------------------------------------------------------------

def _cell(value) -> str:
    """Text safe in a markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


def _pct(x: float) -> str:
    return f"{x:.1%}"


def _num(x) -> str:
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def _kv(items: dict) -> list[dict]:
    return [{"key": k, "value": v} for k, v in items.items() if v is not None and v != ""]


@dataclass
class CardContext:
    """Everything the template shows; built by `card_context`, rendered by `build_card`."""
    model: str
    family: str                         # vit, deit or cnn
    source: str                         # hub or embedded
    description: str
    pretrained: bool                    # False: architecture only, random weights
    input_shape: list[int]              # (1, 3, H, W)
    labels: list[str]
    datasets: list[str]
    base_model: str | None = None       # Hub repository of the original weights
    params: int | None = None
    engine: str | None = None
    files: list[dict] = field(default_factory=list)
    notes: list[dict] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    fidelity: dict | None = None
    eager_accuracy: float | None = None
    eval_results: list[dict] = field(default_factory=list)   # EvalResult kwargs
    benchmark: dict | None = None
    usage: list[dict] = field(default_factory=list)
    preprocessing: list[str] = field(default_factory=list)
    training: dict | None = None
    embedded_training: dict | None = None   # the embedded teacher and students: table, curves figure
    distillation: dict | None = None
    limitations: list[str] = field(default_factory=list)
    repo_id: str | None = None          # where the card will live, for the download snippet
    license: str = LICENSE

    @property
    def architecture_only(self) -> bool:
        return not self.pretrained

    def tags(self) -> list[str]:
        tags = ["vitspace", "vision", "image-classification", "vision-transformer" if self.family != "cnn" else "cnn",
                self.family, "cifar10" if _CIFAR10[0] in self.datasets else "imagenet"]
        tags += list(dict.fromkeys(VARIANTS[f["file"]].hub_tag for f in self.files if f["file"] in VARIANTS))
        if any(f["precision"] == "int8" for f in self.files):
            tags.append("int8")
        if self.architecture_only:
            tags.append("random-weights")
        return tags

    def card_data(self) -> ModelCardData:
        results = [EvalResult(**r) for r in self.eval_results]
        return ModelCardData(license=self.license, library_name=LIBRARY_NAME, tags=self.tags(),
                             datasets=self.datasets or None, pipeline_tag="image-classification",
                             base_model=self.base_model, metrics=["accuracy"] if results else None,
                             model_name=self.model if results else None, eval_results=results or None)

    def template_vars(self) -> dict:
        h, w = self.input_shape[-2:]
        return {**asdict(self),
                "title": f"{self.model}" + (" (architecture only)" if self.architecture_only else ""),
                "summary": _summary(self), "architecture_only": self.architecture_only,
                "input_desc": f"RGB image, {h}x{w}, tensor of shape {tuple(self.input_shape)}",
                "weights_desc": _weights_desc(self),
                "params": f"{self.params:,}" if self.params else None,
                "labels_desc": _labels_desc(self.labels),
                "eager_accuracy": _pct(self.eager_accuracy) if self.eager_accuracy is not None else None,
                "cite_vit": self.family in ("vit", "deit"), "cite_deit": self.family == "deit"}


def _summary(ctx: CardContext) -> str:
    kinds = ", ".join(dict.fromkeys(f["format"] for f in ctx.files))
    name = _FAMILY_NAMES.get(ctx.family, ctx.family)
    built = f"compressed into {len(ctx.files)} deployable file{'s' * (len(ctx.files) != 1)} ({kinds})" \
        if ctx.files else "with no file that built"
    return f"`{ctx.model}`, a {name} image classifier, {built}: {ctx.description}."


def _weights_desc(ctx: CardContext) -> str:
    if ctx.architecture_only:
        return "none: random initialisation (architecture only)"
    if ctx.source == "hub":
        return "the base model's, converted unchanged"
    return "trained by vitspace on CIFAR-10 (see the training recipe)" if ctx.training \
        else "trained by vitspace on CIFAR-10"


def _labels_desc(labels: list[str]) -> str | None:
    if not labels:
        return None
    if len(labels) <= 20:
        return ", ".join(f"{i} {name}" for i, name in enumerate(labels))
    return f"{len(labels)} classes (names in `config.json`)"


def _engine(manifest: Manifest) -> str | None:
    """The quantized engine, where it matters: int8 TorchScript files run with the engine they were built for."""
    int8_ts = any(f.status == "ok" and f.precision == "int8" and f.format.startswith("torchscript")
                  for f in manifest.files)
    return manifest.engine if int8_ts else None


def _file_rows(manifest: Manifest) -> tuple[list[dict], list[dict], list[dict]]:
    """(files that built, their notes, files that failed)."""
    ok = [f for f in manifest.files if f.status == "ok"]
    files = [{"file": f.file, "format": f.format, "runtime": _cell(f.runtime), "precision": f.precision,
              "size": _mb(f.size_bytes), "size_bytes": f.size_bytes, "sha256": f.sha256,
              "sha256_short": f.sha256[:16], "passes": _cell(", ".join(f.passes))} for f in ok]
    notes = [{"file": f.file, "text": _cell("; ".join(f.notes))} for f in ok if f.notes]
    failed = [{"file": f.file, "reason": f.reason or "unknown error"} for f in manifest.files if f.status != "ok"]
    return files, notes, failed


def _source(manifest: Manifest) -> str:
    """Where the fidelity images came from, without the local path of an eval-data folder."""
    source = str(manifest.images.get("source", ""))
    if source.startswith("eval-data "):
        return f"the image folder `{Path(source[len('eval-data '):]).name}`"
    return _cell(source)


def _fidelity(manifest: Manifest) -> dict | None:
    ok = [f for f in manifest.files if f.status == "ok" and f.fidelity]
    if not ok:
        return None
    rows = [{"file": f.file, "agreement": _pct(f.fidelity.top1_agreement), "gate": f.gate or "",
             "max_diff": _num(f.fidelity.max_abs_logit_diff), "mean_diff": _num(f.fidelity.mean_abs_logit_diff),
             "accuracy": _pct(f.fidelity.accuracy) if f.fidelity.accuracy is not None else ""} for f in ok]
    gate = manifest.gate
    return {"images": ok[0].fidelity.images, "source": _source(manifest), "rows": rows,
            "gate": f"at least {gate['min_agreement']:.0%} top-1 agreement" + (
                f" on at least {gate['min_images']} images" if gate.get("min_images") else "") if gate else None,
            "cpu": _cell(manifest.cpu.get("class", "")) if manifest.cpu else None,
            "has_accuracy": any(f.fidelity.accuracy is not None for f in ok)}


def _benchmark(data: dict | None) -> dict | None:
    if not data or not data.get("results"):
        return None

    def fmt(r: dict, key: str, f) -> str:
        return f(r[key]) if isinstance(r.get(key), (int, float)) else _cell(r.get(key) or "")

    def peer(value) -> str:  # vitspace.bench.run writes a bool: the row is another tool's recipe
        return ("peer" if value else "") if isinstance(value, bool) else _cell(value or "")

    measured = [r for r in data["results"] if r.get("status", "ok") == "ok"]  # skipped peers are not results
    rows = [{"variant": _cell(r.get("variant") or ""), "runtime": _cell(r.get("runtime") or ""),
             "peer": peer(r.get("peer")), "batch": fmt(r, "batch", str),
             "p50_ms": fmt(r, "p50_ms", "{:.2f}".format), "p90_ms": fmt(r, "p90_ms", "{:.2f}".format),
             "mean_ms": fmt(r, "mean_ms", "{:.2f}".format), "images_per_s": fmt(r, "images_per_s", "{:.1f}".format),
             "size": fmt(r, "size_bytes", _mb), "agreement": fmt(r, "agreement", _pct)} for r in measured]
    machine = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (data.get("machine") or {}).items()}
    return {"machine": _kv(machine), "rows": rows, "has_peer": any(r["peer"] for r in rows)}


def _usage(files: list[dict], size: int) -> list[dict]:
    """One snippet per format, in the registry's order, from the first file of that format."""
    by_format: dict[str, list[str]] = {}
    for f in files:
        by_format.setdefault(f["format"], []).append(f["file"])
    usage = []
    for first, *others in by_format.values():
        variant = VARIANTS[first]
        usage.append({"title": variant.title, "lang": variant.language, "file": first,
                      "code": usage_snippet(first, input_size=size).rstrip(),
                      "others": " with " + ", ".join(f"`{o}`" for o in others) if others else ""})
    return usage


def _training(training: dict | None) -> dict | None:
    if not training or not isinstance(training.get("train_config"), dict):
        return None
    cfg, metrics = training["train_config"], training.get("metrics") or {}
    distilled = cfg.get("distillation") not in (None, "none")
    shown = {k: cfg.get(k) for k in _RECIPE_KEYS
             if (distilled or k not in ("teacher_model", "alpha", "tau")) and not (k == "tau" and cfg.get(k) is None)}
    results = {}
    if metrics.get("test_top1") is not None:
        results["test top-1 accuracy"] = _pct(metrics["test_top1"]) + (
            f" on {metrics['test_images']:,} CIFAR-10 test images" if metrics.get("test_images") else "")
    if metrics.get("epochs_done") is not None:
        results["epochs"] = f"{metrics['epochs_done']} of {metrics.get('epochs', metrics['epochs_done'])}"
    if metrics.get("train_seconds"):
        results["training time"] = f"{metrics['train_seconds'] / 3600:.2f} h"
    if metrics.get("mean_images_per_s"):
        results["throughput"] = f"{metrics['mean_images_per_s']:,} images/s"
    return {"data": "CIFAR-10", "config": _kv({k: _cell(v) for k, v in shown.items() if v is not None}),
            "results": _kv(results)}


def _embedded_training(spec: ModelSpec, pretrained: bool) -> dict | None:
    models = embedded() if spec.source == "embedded" and pretrained else []
    if not models:
        return None
    return {"table": table(models), "curves": CURVES_FILE if CURVES.is_file() else None}


def _distillation(spec: ModelSpec, training: dict | None) -> dict | None:
    if spec.family != "deit":
        return None
    if spec.source == "hub":  # Touvron et al. 2021, the released *-distilled checkpoints
        return {"teacher": "RegNetY-16GF (84.0% ImageNet-1k top-1), a convnet", "mode": "hard",
                "alpha_desc": "the class head's cross-entropy and the distillation head's, weighted equally",
                "data": "ImageNet-1k", "tau": None}
    cfg = (training or {}).get("train_config") or {}
    mode = cfg.get("distillation")
    if mode in (None, "none"):
        return None
    alpha = cfg.get("alpha", 0.5)
    return {"teacher": f"`{cfg.get('teacher_model')}`, a convnet trained on CIFAR-10", "mode": mode,
            "tau": cfg.get("tau"), "data": "CIFAR-10", "by_epoch": _modes_by_epoch(training),
            "alpha_desc": f"{1 - alpha:g} x the class head's cross-entropy + {alpha:g} x the distillation loss"}


def _modes_by_epoch(training: dict) -> str | None:
    """"hard for epochs 1-6; soft, tau 3 for epochs 7-24" where a run changed its distillation on the way
    (the config holds the last mode only)."""
    parts = [p for p in (training.get("metrics") or {}).get("parts") or [] if p.get("distillation")]
    spans: list[list] = []
    for p in parts:
        if spans and spans[-1][0] == p["distillation"]:
            spans[-1][2] = p["epochs"][1]
        else:
            spans.append([p["distillation"], *p["epochs"]])
    if len(spans) < 2:
        return None
    return "; ".join(f"{mode} for epochs {first}-{last}" for mode, first, last in spans)


def _eval_results(manifest: Manifest, training: dict | None, dataset: tuple[str, str]) -> list[dict]:
    if not manifest.pretrained:
        return []  # random weights score at chance: nothing worth indexing
    results = []
    top1 = ((training or {}).get("metrics") or {}).get("test_top1")
    if top1 is not None:
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


def _limitations(spec: ModelSpec, manifest: Manifest, training: dict | None) -> list[str]:
    items = []
    if not manifest.pretrained:
        items.append("Random weights: the files show size, speed and conversion fidelity only; "
                     "their labels are noise.")
    if spec.source == "embedded":
        items.append("Ten CIFAR-10 classes at 32x32 pixels: any other subject gets one of these ten labels, and "
                     "photos lose most detail when shrunk to 32x32.")
    else:
        items.append("ImageNet-1k's 1000 classes only, with ImageNet's biases: a photo of anything else still "
                     "gets one of them.")
    metrics = (training or {}).get("metrics") or {}
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


def card_context(model: str, artifacts_dir: str | Path, benchmark: str | Path | dict | None = None, *,
                 repo_id: str | None = None, weights_json: str | Path | None = None) -> CardContext:
    """What the card of MODEL's build in ARTIFACTS_DIR says."""
    spec = get_spec(model)
    manifest = load_manifest(artifacts_dir)
    if manifest.model != spec.name:
        raise CardError(f"{artifacts_dir} holds a build of {manifest.model}, not {spec.name}")
    pretrained = manifest.pretrained
    training = load_training(spec, weights_json) if pretrained else None  # random weights had no training
    dataset = _CIFAR10 if spec.source == "embedded" else _IMAGENET
    files, notes, failed = _file_rows(manifest)
    bench = load_benchmark(benchmark)
    bench_model = ((bench or {}).get("config") or {}).get("model")
    if bench_model and bench_model != spec.name:
        raise CardError(f"the benchmark measured {bench_model}, not {spec.name}")
    return CardContext(
        model=spec.name, family=spec.family, source=spec.source, description=spec.description,
        pretrained=pretrained, input_shape=list(manifest.input_shape), labels=model_labels(spec),
        datasets=[dataset[0]], base_model=spec.repo_id if spec.source == "hub" else None,
        params=(training or {}).get("params"), engine=_engine(manifest),
        files=files, notes=notes, failed=failed, fidelity=_fidelity(manifest),
        eager_accuracy=manifest.eager_accuracy if pretrained else None,
        eval_results=_eval_results(manifest, training, dataset),
        benchmark=_benchmark(bench),
        usage=_usage(files, manifest.input_shape[-1]), preprocessing=preprocessing_steps(spec),
        training=_training(training), embedded_training=_embedded_training(spec, pretrained),
        distillation=_distillation(spec, training) if pretrained else None,
        limitations=_limitations(spec, manifest, training), repo_id=repo_id)


# --- rendering and validation ---------------------------------------------------------------------

def _tidy(text: str) -> str:
    # the template keeps its block tags on their own lines for legibility; what they leave is blank lines
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def build_card(model: str, artifacts_dir: str | Path, benchmark: str | Path | dict | None = None, *,
               repo_id: str | None = None, weights_json: str | Path | None = None) -> ModelCard:
    ctx = card_context(model, artifacts_dir, benchmark, repo_id=repo_id, weights_json=weights_json)
    if not TEMPLATE.is_file():
        raise CardError(f"card template {TEMPLATE} is missing (vitspace runs from its source tree)")
    card = ModelCard.from_template(ctx.card_data(), template_path=str(TEMPLATE), **ctx.template_vars())
    return ModelCard(_tidy(str(card)))


def render_card(model: str, artifacts_dir: str | Path, benchmark: str | Path | dict | None = None, *,
                repo_id: str | None = None, weights_json: str | Path | None = None) -> str:
    return str(build_card(model, artifacts_dir, benchmark, repo_id=repo_id, weights_json=weights_json))


def card_preview(model: str, artifacts_dir: str | Path, *,
                 benchmark: str | Path | dict | None = None) -> tuple[str, Path]:
    """(markdown, ARTIFACTS/card/README.md written for download, with the images it shows beside it),
    for the app's Card tab."""
    text = render_card(model, artifacts_dir, benchmark)
    path = Path(artifacts_dir) / CARD_DIR / "README.md"
    atomic.write_text(path, text)
    for name, source in card_images(text).items():
        atomic.write_bytes(path.parent / name, source.read_bytes())
    return text, path


def card_images(text: str) -> dict[str, Path]:
    """The committed images a card shows, by the name it links them with: they travel beside it."""
    return {CURVES_FILE: CURVES} if f"]({CURVES_FILE})" in text and CURVES.is_file() else {}


# --- command line ---------------------------------------------------------------------------------
