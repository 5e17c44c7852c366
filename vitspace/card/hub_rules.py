"""The Hub's rules for a model card's metadata (licenses, pipeline tags, the shape of each field), checked
before anything is staged. The metadata itself is `CardContext.hub_metadata()`.

Online, the Hub checks the card itself: `HfApi.create_commit` posts it to /api/validate-yaml before uploading
anything (hub.py). These are the offline checks: for --dry-run and the app's preview, where nothing may reach the
network, and before a push, so that a card the Hub would reject costs no repository. huggingface_hub ships neither
list (its ModelCardData takes any string; the lists live on the Hub and in huggingface.js), hence the copies here.
"""
import re

from huggingface_hub import ModelCard

from ..errors import CardMetadataError

__all__ = ["validate_card", "HUB_LICENSES", "PIPELINE_TAGS", "BASE_MODEL_RELATIONS"]

# https://huggingface.co/docs/hub/repositories-licenses
HUB_LICENSES = frozenset("""
apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0 bigcode-openrail-m
afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear c-uda cc cc0-1.0 cc-by-2.0
cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0
cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0
cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1 eupl-1.2 agpl-3.0 gfdl
gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1 lgpl-3.0 isc h-research intel-research lppl-1.3c ms-pl apple-ascl apple-amlr
mpl-2.0 odc-by odbl openrail++ osl-3.0 postgresql ofl-1.1 ncsa unlicense zlib pddl lgpl-lr deepfloyd-if-license
fair-noncommercial-research-license llama2 llama3 llama3.1 llama3.2 llama3.3 llama4 gemma unknown other
""".split())
# how a model derives from its base_model, for the Hub's model tree (https://hf.co/docs/hub/model-cards)
BASE_MODEL_RELATIONS = frozenset({"adapter", "merge", "quantized", "finetune"})
# the Hub's tasks (huggingface.js packages/tasks)
PIPELINE_TAGS = frozenset("""
text-classification token-classification table-question-answering question-answering zero-shot-classification
translation summarization feature-extraction text-generation fill-mask sentence-similarity text-to-speech
text-to-audio automatic-speech-recognition audio-to-audio audio-classification audio-text-to-text
voice-activity-detection depth-estimation image-classification object-detection image-segmentation text-to-image
image-to-text image-to-image image-to-video unconditional-image-generation video-classification
reinforcement-learning robotics tabular-classification tabular-regression tabular-to-text table-to-text
multiple-choice text-ranking text-retrieval time-series-forecasting text-to-video image-text-to-text
visual-question-answering document-question-answering zero-shot-image-classification graph-ml mask-generation
zero-shot-object-detection text-to-3d image-to-3d image-feature-extraction video-text-to-text keypoint-detection
visual-document-retrieval any-to-any video-to-video other
""".split())


def _metadata_problems(meta: dict) -> list[str]:
    problems = []
    license = meta.get("license")
    # optional: the Hub takes a card without one, and a model whose source declares none must not claim one
    if license is not None and license not in HUB_LICENSES:
        problems.append(f"license {license!r} is not one the Hub knows (https://hf.co/docs/hub/repositories-licenses)")
    elif license == "other" and not (meta.get("license_name") and meta.get("license_link")):
        problems.append("license 'other' needs license_name and license_link")
    if meta.get("pipeline_tag") not in PIPELINE_TAGS:
        problems.append(f"pipeline_tag {meta.get('pipeline_tag')!r} is not a Hub task")
    for key in ("tags", "datasets", "metrics"):
        values = meta.get(key) or []
        if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() and "\n" not in v
                                                   for v in values):
            problems.append(f"{key} must be a list of non-empty one-line strings, not {values!r}")
    if not isinstance(meta.get("library_name", ""), str):
        problems.append("library_name must be a string")
    base = meta.get("base_model")
    if base is not None and not (isinstance(base, str) and re.fullmatch(r"[\w.-]+/[\w.-]+", base)):
        problems.append(f"base_model {base!r} is not a Hub model id")
    relation = meta.get("base_model_relation")
    if relation is not None and (relation not in BASE_MODEL_RELATIONS or base is None):
        problems.append(f"base_model_relation {relation!r} needs a base_model and is one of "
                        f"{', '.join(sorted(BASE_MODEL_RELATIONS))}")
    for entry in meta.get("model-index") or []:
        for result in entry.get("results", []):
            for metric in result.get("metrics", []):
                if not isinstance(metric.get("value"), (int, float)):
                    problems.append(f"model-index metric {metric.get('name')!r} has no numeric value")
    return problems


def validate_card(card: ModelCard | str) -> None:
    """Check a card's metadata against what the Hub accepts, before any upload.

    Args:
        card: the card, or its text.

    Raises:
        CardMetadataError: the front matter does not parse, or the Hub would reject it (every problem listed).
    """
    text = str(card)
    try:
        reparsed = ModelCard(text)
    except ValueError as e:
        raise CardMetadataError(f"the card's YAML front matter does not parse: {e}") from e
    problems = _metadata_problems(reparsed.data.to_dict())
    if problems:
        raise CardMetadataError("card metadata the Hub would reject:\n- " + "\n- ".join(problems))
