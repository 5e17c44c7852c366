"""Text for the card's tables: cells that cannot break a markdown row, sizes, shares and numbers."""

__all__ = ["cell", "mb", "pct", "num", "kv"]


def cell(value) -> str:
    """Text safe in a markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def mb(n: int) -> str:
    """A size in bytes as megabytes (10^6), two decimals: "12.34 MB"."""
    return f"{n / 1e6:.2f} MB"


def pct(x: float) -> str:
    """A fraction as a percentage, one decimal: 0.987 -> "98.7%"."""
    return f"{x:.1%}"


def num(x) -> str:
    """A float to three significant digits; anything else as str()."""
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def kv(items: dict) -> list[dict]:
    """Key-value rows for the template, without the empty ones."""
    return [{"key": k, "value": v} for k, v in items.items() if v is not None and v != ""]
