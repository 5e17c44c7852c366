"""A comparison for people: each model's confidences, and a Markdown table of the models' answers."""
import functools
from collections.abc import Sequence

from ..models.resolve import resolve
from ..train import record
from .classifier import Comparison, Prediction

__all__ = ["HEADER", "SHARED_BATCH", "confidences", "answers_table", "about_models", "summary"]

HEADER = "| model | top-1 | probability | latency | images in the batch |\n|---|---|---|---|---|"
# what a model's training logged reads its weights' JSONs: once a process, not on every request
imitation = functools.lru_cache(maxsize=64)(record.imitation)
SHARED_BATCH = "Images sent at the same time share a forward pass; its latency is the whole batch's."


def confidences(p: Prediction) -> dict[str, float]:
    """Label -> probability, best first: what a label widget shows."""
    return dict(p.topk)


def answers_table(predictions: Sequence[Prediction]) -> str:
    """One row per model: its top-1 label and probability, the forward's latency and how many images shared it."""
    rows = (f"| {p.model} | {p.label} | {p.topk[0][1]:.1%} | {p.latency_ms:.1f} ms | {p.batch} |" for p in predictions)
    return f"{HEADER}\n" + "\n".join(rows)


def about_models(models: Sequence[str]) -> str:
    """A bullet per registry model, each named once: its description (a DeiT student names its teacher, and says
    how far its distillation head follows it against the ViT's agreement, where its training logged it)."""
    return "\n".join(f"- **{m}**: {'; '.join(filter(None, [resolve(m).description, imitation(m)]))}"
                     for m in dict.fromkeys(models))


def summary(c: Comparison, fast_notes: Sequence[str] = (), models: Sequence[str] = ()) -> str:
    """Markdown: whether the models agree, their answers, a note when requests shared a forward pass, the fast
    path's note per model (empty ones left out), the runtime each answered in (where known), and what each of
    `models` is.

    Args:
        c: the comparison, one prediction per model.
        fast_notes: `vitspace.fast_note` per prediction, in their order; empty without the fast path.
        models: the registry names asked for, whose descriptions close the summary.
    """
    parts = ["**The models agree.**" if c.agree else "**The models disagree.**", answers_table(c.predictions)]
    if any(p.batch > 1 for p in c.predictions):
        parts.append(SHARED_BATCH)
    parts += [f"{p.model}: {note}" for p, note in zip(c.predictions, fast_notes) if note]
    if ran := [f"{p.model} ran in {p.runtime}" for p in c.predictions if p.runtime]:
        parts.append("; ".join(ran) + ".")
    if models:
        parts.append(about_models(models))
    return "\n\n".join(parts)
