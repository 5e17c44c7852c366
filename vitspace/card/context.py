"""What a model card says: `CardContext`, gathered by `card_context` from the build's manifest, an optional
benchmark and the weights' training record, and shown as the card's Hub metadata and template variables."""
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from huggingface_hub import EvalResult, ModelCardData

from ..compress.manifest import Manifest
from ..errors import CardError
from ..export import VARIANTS
from ..models.labels import model_labels
from ..models.registry import ModelSpec
from ..models.resolve import resolve
from . import layout, sections
from ._format import pct
from .hub_rules import HUB_LICENSES
from .sources import (
    load_benchmark,
    load_manifest,
    load_training,
    own_model,
    preprocessing_steps,
    public_name,
    public_text,
)

__all__ = ["CardContext", "card_context", "LICENSE"]

# vitspace's own license, and that of google/vit-* and facebook/deit-* weights on the Hub; a user's model
# has the license its source declares (`_license`)
LICENSE = "apache-2.0"

_FAMILY_NAMES = {"vit": "ViT", "deit": "DeiT", "cnn": "CNN"}
_CIFAR10 = ("uoft-cs/cifar10", "CIFAR-10")
_IMAGENET = ("ILSVRC/imagenet-1k", "ImageNet-1k")
_DATASET_TAGS = {_CIFAR10[0]: "cifar10", _IMAGENET[0]: "imagenet"}


@dataclass
class CardContext:
    """Everything the card shows; built by `card_context`, rendered by `build.build_card`."""
    model: str                          # registry name, Hub id, or a local folder's name (never its path)
    family: str                         # vit, deit or cnn
    source: str                         # hub, local or embedded
    description: str
    pretrained: bool                    # False: architecture only, random weights
    input_shape: list[int]              # (1, 3, H, W)
    labels: list[str]
    datasets: list[str]
    base_model: str | None = None       # Hub repository of the original weights
    base_revision: str | None = None    # its branch, tag or commit, as the model was named; None: main
    own: bool = False                   # a user's model (Hub id or folder), not one vitspace registers
    params: int | None = None
    engine: str | None = None
    files: list[dict] = field(default_factory=list)
    notes: list[dict] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    fidelity: dict | None = None
    eager_accuracy: float | None = None
    eval_results: list[dict] = field(default_factory=list)   # EvalResult kwargs
    benchmark: dict | None = None
    loaders: list[dict] = field(default_factory=list)   # the standard loaders' snippets (Optimum), shown first
    usage: list[dict] = field(default_factory=list)     # vitspace's own, one per format
    download: str | None = None         # code that downloads the first of vitspace's snippets' files
    library_name: str | None = None     # a library the Hub knows, where one applies (layout.library_name)
    preprocessing: list[str] = field(default_factory=list)
    preprocessing_source: str = ""      # where the preprocessing settings came from, in words
    training: dict | None = None
    embedded_training: dict | None = None   # the embedded teacher and students: table, curves figure
    distillation: dict | None = None
    limitations: list[str] = field(default_factory=list)
    repo_id: str | None = None          # where the card will live, for the download snippet
    license: str | None = LICENSE       # None: the source declares none, and the card claims none
    license_name: str | None = None     # with license "other": its name and where it is stated
    license_link: str | None = None
    license_desc: str = LICENSE         # the license in words, for the card's text

    @property
    def architecture_only(self) -> bool:
        """True for random weights: the card describes the architecture only."""
        return not self.pretrained

    def tags(self) -> list[str]:
        """The Hub tags: family, data set, formats (each variant's hub_tag), int8, random weights."""
        tags = ["vitspace", "vision", "image-classification", "vision-transformer" if self.family != "cnn" else "cnn",
                self.family]
        tags += [tag for dataset, tag in _DATASET_TAGS.items() if dataset in self.datasets]  # known data only
        tags += list(dict.fromkeys(VARIANTS[f["file"]].hub_tag for f in self.files if f["file"] in VARIANTS))
        if any(f["precision"] == "int8" for f in self.files):
            tags.append("int8")
        if self.architecture_only:
            tags.append("random-weights")
        return tags

    @property
    def base_model_relation(self) -> str | None:
        """How the files relate to the base model, as the Hub's model tree files them: "quantized" where int8
        files built; None otherwise (fp32 files are the base model converted, none of the Hub's relations)."""
        if self.base_model and any(f["precision"] == "int8" for f in self.files):
            return "quantized"
        return None

    def hub_metadata(self) -> ModelCardData:
        """The card's YAML front matter, which the Hub indexes.

        Returns:
            License, library, tags, data sets (only those known), pipeline tag, base model and its relation, and
            eval results (model-index).
        """
        results = [EvalResult(**r) for r in self.eval_results]
        relation = self.base_model_relation
        extra = {"base_model_relation": relation} if relation else {}
        return ModelCardData(license=self.license, license_name=self.license_name, license_link=self.license_link,
                             library_name=self.library_name, tags=self.tags(), datasets=self.datasets or None,
                             pipeline_tag="image-classification", base_model=self.base_model,
                             metrics=["accuracy"] if results else None, model_name=self.model if results else None,
                             eval_results=results or None, **extra)

    def template_vars(self) -> dict:
        """The variables of `templates/modelcard.md`.

        Returns:
            Every field, and the phrases the template shows (title, summary, input, weights, labels).
        """
        h, w = self.input_shape[-2:]
        return {**asdict(self),
                "title": f"{self.model}" + (" (architecture only)" if self.architecture_only else ""),
                "summary": _summary(self), "architecture_only": self.architecture_only,
                "input_desc": f"RGB image, {h}x{w}, tensor of shape {tuple(self.input_shape)}",
                "weights_desc": _weights_desc(self),
                "params": f"{self.params:,}" if self.params else None,
                "labels_desc": _labels_desc(self.labels),
                "eager_accuracy": pct(self.eager_accuracy) if self.eager_accuracy is not None else None,
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
    if ctx.source == "local":
        return "the local folder's, converted unchanged"
    return "trained by vitspace on CIFAR-10 (see the training recipe)" if ctx.training \
        else "trained by vitspace on CIFAR-10"


def _labels_desc(labels: list[str]) -> str | None:
    if not labels:
        return None
    if len(labels) <= 20:
        return ", ".join(f"{i} {name}" for i, name in enumerate(labels))
    return f"{len(labels)} classes: their names are `id2label` in `config.json`, in logit order"


def _license(spec: ModelSpec) -> dict:
    """The front matter's license fields and the license in words, from what the model's source declares.

    A source that declares no license gets none: the files are its weights converted, and vitspace cannot grant
    rights it was not given. The Hub accepts a card without `license` (the field is optional in its metadata;
    `hub_rules` checks it only where present); its "other" would need a license_name and license_link, which
    there are none of, and "unknown" or apache-2.0 would be vitspace's word, not the source's.
    """
    origin = "the local folder" if spec.source == "local" else "the base model"
    declared = (spec.license or "").strip()
    if not declared:
        return {"license": None, "license_desc": f"none declared by {origin}: ask its owner before redistributing"}
    desc = f"{declared}, as {origin} declares it" if own_model(spec) else declared
    if declared.lower() in HUB_LICENSES - {"other"}:
        return {"license": declared.lower(), "license_desc": desc}
    if spec.source == "hub":  # one the Hub does not list: "other", named, linked to the base model that states it
        name = re.sub(r"[^a-z0-9.]+", "-", declared.lower()).strip("-")
        return {"license": "other", "license_name": name if name not in ("", "other") else "base-model-license",
                "license_link": f"https://huggingface.co/{spec.repo_id}", "license_desc": desc}
    return {"license": None, "license_desc": desc}  # a folder's own term, with nothing to link: in the text only


def _dataset(spec: ModelSpec) -> tuple[str, str] | None:
    """The data set the weights were trained on, where vitspace knows it: CIFAR-10 for the embedded models,
    ImageNet-1k for the registered Hub models; None for a user's model."""
    if spec.source == "embedded":
        return _CIFAR10
    return None if own_model(spec) else _IMAGENET


def _same_model(built: str, spec: ModelSpec) -> bool:
    """Whether a build's model (as compress was given it) is SPEC: the same name, or the same local folder."""
    if built == spec.name:
        return True
    return spec.folder is not None and Path(built).expanduser().resolve() == spec.folder


def published(manifest: Manifest, files: Iterable[str] | None) -> Manifest:
    """The manifest of what is published: the files named that built, and those that did not build.

    Args:
        manifest: the build's manifest.
        files: built files to publish, by their names in the build; None: all.

    Raises:
        CardError: a file named did not build.
    """
    if files is None:
        return manifest
    files = set(files)
    built = {f.file for f in manifest.files if f.status == "ok"}
    if files - built:
        raise CardError(f"not built, so not publishable: {', '.join(sorted(files - built))}")
    return replace(manifest, files=[f for f in manifest.files if f.file in files or f.status != "ok"])


def card_context(model: str, artifacts_dir: str | Path, benchmark: str | Path | dict | None = None, *,
                 repo_id: str | None = None, weights_json: str | Path | None = None,
                 files: Iterable[str] | None = None) -> CardContext:
    """What the card of MODEL's build in ARTIFACTS_DIR says.

    Args:
        model: a registry name, Hub id or folder (`models.resolve`).
        artifacts_dir: a compress build: manifest.json and its files.
        benchmark: benchmark JSON, as a path or a dict: `{"machine": {...}, "results": [...]}`.
        repo_id: the Hub repository the card is for (adds a download snippet).
        weights_json: the weights' training record; None: the sidecar of an embedded model's weights.
        files: the built files the card is for, by their names in the build; None: all that built.

    Returns:
        The context; training, distillation and eval results only for real weights.

    Raises:
        UnknownModelError: MODEL is no registered name, Hub id or folder (UnsupportedModelError: one vitspace
            cannot run).
        CardError: the build or the benchmark is missing, unreadable, or of another model.
    """
    spec = resolve(model)
    manifest = load_manifest(artifacts_dir)
    if not _same_model(manifest.model, spec):
        raise CardError(f"{artifacts_dir} holds a build of {manifest.model}, not {spec.name}")
    manifest = published(manifest, files)
    pretrained = manifest.pretrained
    record = load_training(spec, weights_json) if pretrained else None  # random weights had no training
    dataset = _dataset(spec)
    files, notes, failed = sections.file_rows(manifest)
    bench = load_benchmark(benchmark)
    bench_model = ((bench or {}).get("config") or {}).get("model")
    if bench_model and not _same_model(bench_model, spec):
        raise CardError(f"the benchmark measured {bench_model}, not {spec.name}")
    hub = spec.source == "hub"
    usage = sections.usage(files, manifest.input_shape[-1])
    return CardContext(
        model=public_name(spec), family=spec.family, source=spec.source,
        description=public_text(spec.description, spec), pretrained=pretrained,
        input_shape=list(manifest.input_shape), labels=model_labels(spec), datasets=[dataset[0]] if dataset else [],
        base_model=spec.repo_id if hub else None, base_revision=spec.revision if hub else None, own=own_model(spec),
        params=(record or {}).get("params"), engine=sections.engine(manifest),
        files=files, notes=notes, failed=failed, fidelity=sections.fidelity(manifest),
        eager_accuracy=manifest.eager_accuracy if pretrained else None,
        eval_results=sections.eval_results(manifest, record, dataset),
        benchmark=sections.benchmark(bench),
        loaders=layout.optimum_usage(spec, [f["file"] for f in files], repo_id), usage=usage,
        download=sections.download(repo_id, usage[0] if usage else None),
        library_name=layout.library_name(spec, {f["format"] for f in files}), preprocessing=preprocessing_steps(spec),
        preprocessing_source=public_text(spec.preprocessing, spec),
        training=sections.training(record), embedded_training=sections.embedded_training(spec, pretrained),
        distillation=sections.distillation(spec, record) if pretrained else None,
        limitations=sections.limitations(spec, manifest, record), repo_id=repo_id, **_license(spec))
