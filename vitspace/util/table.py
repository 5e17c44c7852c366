"""Rows of dicts as the cells of a table: the columns a display chose, in its order."""
from collections.abc import Iterable

__all__ = ["cells"]


def cells(rows: Iterable[dict], columns: Iterable[str]) -> list[list]:
    """One list per row, a cell per column; floats to 4 significant digits, anything else as it is."""
    columns = list(columns)
    return [[f"{r[k]:.4g}" if isinstance(r[k], float) else r[k] for k in columns] for r in rows]
