"""List the registry: `python -m vitspace.models [--json]`."""
import argparse
import json
import sys
from dataclasses import asdict, dataclass

import torch

from .classifier import model_labels
from .loading import weights_status
from .registry import get_spec, list_models

__all__ = ["ModelInfo", "model_info", "main"]


@dataclass
class ModelInfo:
    name: str
    family: str
    source: str                 # hub or embedded
    repo_id: str | None
    params: int
    input_size: int
    num_labels: int
    weights: str                # embedded, cache, hub or unavailable (architecture only)
    description: str

    @property
    def available(self) -> bool:
        return self.weights != "unavailable"


def model_info(name: str) -> ModelInfo:
    spec = get_spec(name)
    with torch.device("meta"):  # shapes only: no memory, no random init
        model = spec.build()
    return ModelInfo(name, spec.family, spec.source, spec.repo_id, sum(p.numel() for p in model.parameters()),
                     spec.input_size, len(model_labels(spec, model)), weights_status(spec), spec.description)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m vitspace.models", description="List the models vitspace can build.")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    args = p.parse_args(argv)
    infos = [model_info(n) for n in list_models()]
    if args.json:
        print(json.dumps([asdict(i) | {"available": i.available} for i in infos], indent=2))
        return 0
    print(f"{'name':<20} {'source':<9} {'params':>8} {'input':>5} {'labels':>6}  weights")
    for i in infos:
        weights = i.weights if i.available else "unavailable (architecture only)"
        print(f"{i.name:<20} {i.source:<9} {i.params / 1e6:>7.1f}M {i.input_size:>5} {i.num_labels:>6}  {weights}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
