"""Explanations for people: DeiT's class and distillation heads next to their average, and the teacher."""
from collections.abc import Iterator, Sequence

from .explanation import Explanation, HeadAnswer

__all__ = ["HEADER", "answers", "heads_table"]

HEADER = "| model | head | top-3 |\n|---|---|---|"


def answers(e: Explanation) -> Iterator[tuple[str, HeadAnswer]]:
    """(row name, answer): each head, the model's answer (for DeiT the mean of its two heads), then its teacher."""
    yield from ((f"{h.name} head", h) for h in e.heads)
    yield ("answer (mean of the two heads)" if e.heads else "answer"), e.answer
    if e.teacher:
        yield f"teacher {e.teacher.name}", e.teacher


def heads_table(explanations: Sequence[Explanation | None]) -> str:
    """Markdown: a row per answer of each explanation with its top 3, and whether DeiT's heads agree.

    None stands for a model explained without maps (the fast path, or maps off); "" when none is left.
    """
    rows = []
    for e in filter(None, explanations):
        rows += [f"| {e.model} | {name} | {', '.join(f'{label} {p:.0%}' for label, p in h.top3)} |"
                 for name, h in answers(e)]
        if e.agree is not None:
            rows.append(f"| {e.model} | do the heads agree? | **{'yes' if e.agree else 'no'}** |")
    return f"{HEADER}\n" + "\n".join(rows) if rows else ""
