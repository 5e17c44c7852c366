"""Rows of dicts as the cells of a table: the columns a display chose, in its order, each figure at its precision."""
from collections.abc import Iterable, Mapping

__all__ = ["cells", "figure", "markdown_table", "cell_styles", "styled", "DASH", "PICK", "FAILURE"]

DASH = "–"  # a figure that was not measured
RIGHT = "text-align: right"
PICK = "background-color: #dcfce7; color: #14532d; font-weight: bold"  # the row to pick: dark on light green
FAILURE = "color: #b91c1c; font-weight: bold"  # red, readable on a light or a dark page


def figure(value, decimals: int | None = None) -> str:
    """A figure as text: `decimals` fixed places, so that a right-aligned column lines up on the point; None: three
    significant digits (spans of magnitudes, as logit differences); not measured: a dash. Text stays as it is."""
    if value is None:
        return DASH
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return f"{value:.{decimals}f}" if decimals is not None else f"{value:.3g}"


def cells(rows: Iterable[dict], columns: Iterable[str], decimals: Mapping[str, int | None] | None = None) -> list[list]:
    """One list per row, a cell per column. A column named in `decimals` is a figure (see `figure`); without it,
    floats to 4 significant digits and anything else as it is."""
    columns, decimals = list(columns), decimals or {}

    def cell(r: dict, k: str):
        if k in decimals:
            return figure(r[k], decimals[k])
        return f"{r[k]:.4g}" if isinstance(r[k], float) else r[k]
    return [[cell(r, k) for k in columns] for r in rows]


def markdown_table(headers: Iterable[str], rows: Iterable[Iterable]) -> str:
    """A Markdown table; a "|" in a cell is escaped, None is an empty cell."""
    def row(values) -> str:
        return "| " + " | ".join("" if v is None else str(v).replace("|", "\\|") for v in values) + " |"
    headers = list(headers)
    return "\n".join([row(headers), "|" + "---|" * len(headers), *(row(r) for r in rows)])


def cell_styles(rows: list[list], *, picked: Iterable[int] = (), failed: Iterable[tuple[int, int]] = ()) -> list[list]:
    """CSS for each cell of a table whose first column names the row: the figures right-aligned, the rows `picked`
    (indices) marked as the one to pick, the cells `failed` ((row, column) pairs) as failures."""
    styles = [[[] if j == 0 else [RIGHT] for j in range(len(r))] for r in rows]
    for i in picked:
        for cell in styles[i]:
            cell.append(PICK)
    for i, j in failed:
        styles[i][j].append(FAILURE)
    return [["; ".join(cell) for cell in r] for r in styles]


def styled(headers: Iterable[str], rows: list[list], **marks):
    """The table as a pandas Styler, which a Gradio Dataframe shows with each cell's CSS: cell_styles, with the
    marks (`picked`, `failed`) given."""
    import pandas as pd  # only a display needs it

    frame = pd.DataFrame(rows, columns=list(headers))
    css = pd.DataFrame(cell_styles(rows, **marks), index=frame.index, columns=frame.columns) if rows else None
    return frame.style.apply(lambda _: css, axis=None) if rows else frame.style
