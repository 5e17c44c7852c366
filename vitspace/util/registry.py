"""Registries kept in order: the export backends' files and Classify's runtimes are both tried and shown by `order`."""
from typing import Protocol, TypeVar

__all__ = ["register_ordered"]


class _Ordered(Protocol):
    order: int


T = TypeVar("T", bound=_Ordered)


def register_ordered(registry: dict[str, T], key: str, item: T) -> T:
    """Put `item` in `registry` under `key`, replacing what was there, keep the registry sorted by each item's
    `order` (ties keep their registration order); returns the item."""
    pairs = sorted([*((k, v) for k, v in registry.items() if k != key), (key, item)], key=lambda kv: kv[1].order)
    registry.clear()
    registry.update(pairs)
    return item
