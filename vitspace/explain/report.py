"""Explanations for people: DeiT's class and distillation heads next to their average, and the teacher."""
from collections.abc import Iterator, Sequence

from ..util.table import markdown_table
from .explanation import Explanation, HeadAnswer

__all__ = ["HEADER", "answers", "agreement", "heads_block", "heads_table"]

HEADER = ("", "top 3")


def answers(e: Explanation) -> Iterator[tuple[str, HeadAnswer]]:
    """(row name, answer): each head, the model's answer (for DeiT the mean of its two heads), then its teacher."""
    yield from ((f"{h.name} head", h) for h in e.heads)
    yield ("**answer** (mean of the two heads)" if e.heads else "**answer**"), e.answer
    if e.teacher:
        yield f"teacher {e.teacher.name} (the model it learned from)", e.teacher


def agreement(e: Explanation) -> str:
    """A sentence on whether DeiT's heads agree; "" for a model with one head."""
    if e.agree is None:
        return ""
    if e.agree:
        return f"The {' and '.join(h.name for h in e.heads)} heads agree: both say {e.heads[0].label}."
    return (f"The {' and '.join(h.name for h in e.heads)} heads disagree: "
            f"{' against '.join(h.label for h in e.heads)}.")


def heads_block(e: Explanation) -> str:
    """Markdown: the model's name, a table of its heads, its answer and its teacher's, each with its top 3, then
    whether the heads agree."""
    rows = [(name, ", ".join(f"{label} {p:.0%}" for label, p in h.top3)) for name, h in answers(e)]
    return "\n\n".join(filter(None, [f"**{e.model}**", markdown_table(HEADER, rows), agreement(e)]))


def heads_table(explanations: Sequence[Explanation | None]) -> str:
    """Markdown: a block per explained model (heads_block), in order.

    None stands for a model explained without maps (the fast path, or maps off); "" when none is left.
    """
    return "\n\n".join(heads_block(e) for e in filter(None, explanations))
