"""Where ViT and DeiT look: attention maps, and DeiT's two heads side by side.

attention: the attention of one forward and the maps made from it; explanation: maps with the heads' and the
teacher's answers, batched across callers; graph, runtimes and choice: the explained forward exported and run
in the fastest runtime that answers as eager PyTorch does; figure: an explanation drawn (figures: two at one
scale). `python -m vitspace.explain` is the command.
"""
from ..errors import ExplainError
from .attention import METHODS, Attended, attention_maps, forward_with_attention, rollout
from .choice import prepare as prepare_runtime
from .explanation import Explanation, HeadAnswer, compare_explained, explain, predict_explained
from .figure import colorize, display_image, figure, figures, overlay

__all__ = ["ExplainError", "METHODS", "Attended", "attention_maps", "forward_with_attention", "rollout",
           "Explanation", "HeadAnswer", "compare_explained", "explain", "predict_explained", "colorize",
           "display_image", "figure", "figures", "overlay", "prepare_runtime"]
