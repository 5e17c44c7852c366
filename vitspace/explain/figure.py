"""Explanations drawn: the model's view, each token's map over it, a colour bar, and the heads' answers."""
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .explanation import Explanation, HeadAnswer

__all__ = ["colorize", "display_image", "overlay", "answer_line", "figure", "figures"]

# viridis at nine points (matplotlib's colour map, perceptually uniform, readable in greyscale)
_VIRIDIS = np.array([(68, 1, 84), (71, 45, 123), (59, 82, 139), (44, 114, 142), (33, 145, 140),
                     (40, 174, 128), (94, 201, 98), (173, 220, 48), (253, 231, 37)], dtype=np.float64)


def colorize(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> viridis RGB uint8, shape (..., 3)."""
    x = np.clip(values, 0, 1) * (len(_VIRIDIS) - 1)
    lo = np.minimum(np.floor(x).astype(int), len(_VIRIDIS) - 2)
    t = (x - lo)[..., None]
    return ((1 - t) * _VIRIDIS[lo] + t * _VIRIDIS[lo + 1]).round().astype(np.uint8)


def display_image(image: Image.Image, min_side: int = 256) -> Image.Image:
    """A small image enlarged by a whole factor to at least min_side, nearest-neighbour: crisp pixels, no blur."""
    factor = -(-min_side // min(image.size))
    if factor <= 1:
        return image
    return image.resize((image.width * factor, image.height * factor), Image.NEAREST)


def overlay(image: Image.Image, grid: np.ndarray, *, vmax: float | None = None, alpha: float = 0.5,
            min_side: int = 256) -> Image.Image:
    """The image at display size with the map over it, one flat square per patch.

    Args:
        image: the model's view of the input.
        grid: one token's map, (patch rows, patch columns).
        vmax: the value drawn in the brightest colour (default: the map's maximum), so that maps drawn
            side by side share one scale.
        alpha: the map's opacity over the image.
        min_side: see display_image.
    """
    base = display_image(image.convert("RGB"), min_side)
    heat = Image.fromarray(colorize(grid / (vmax or grid.max() or 1.0))).resize(base.size, Image.NEAREST)
    return Image.blend(base, heat, alpha)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _short(label: str) -> str:
    return label.split(",")[0]  # ImageNet labels list synonyms: "tabby, tabby cat"


def answer_line(title: str, answer: HeadAnswer) -> str:
    """One line of text: the title, then the answer's top labels with their probabilities."""
    return f"{title}: " + "  ·  ".join(f"{_short(label)} {s:.1%}" for label, s in answer.top3)


def _text_lines(e: Explanation) -> list[str]:
    if not e.heads:
        lines = [answer_line("answer", e.answer)]
    else:
        lines = [answer_line("answer (mean of the heads)", e.answer),
                 *(answer_line(f"{h.name} head", h) for h in e.heads),
                 f"the heads agree: {e.heads[0].label}" if e.agree
                 else "the heads disagree: " + " vs ".join(h.label for h in e.heads)]
    if e.teacher:
        lines.append(answer_line(f"teacher {e.teacher.name}", e.teacher))
    return lines


def _colour_bar(fig: Image.Image, x: int, y: int, height: int, vmax: float, font, width: int = 14) -> None:
    ramp = colorize(np.linspace(1, 0, height))[:, None, :].repeat(width, axis=1)
    fig.paste(Image.fromarray(ramp), (x, y))
    draw = ImageDraw.Draw(fig)
    draw.rectangle((x, y, x + width - 1, y + height - 1), outline="black")
    for frac, anchor in ((1.0, "lt"), (0.5, "lm"), (0.0, "lb")):
        ty = y + (1 - frac) * (height - 1)
        draw.line((x + width, ty, x + width + 4, ty), fill="black")
        draw.text((x + width + 7, ty), f"{100 * frac * vmax:.2g}%", fill="black", font=font, anchor=anchor)


def _fit(panel: Image.Image, side: int | None) -> Image.Image:
    """A panel exactly `side` pixels wide (its height in proportion); as it is without a side."""
    if side is None or panel.width == side:
        return panel
    return panel.resize((side, max(1, round(panel.height * side / panel.width))), Image.LANCZOS)


def _clip(text: str, width: float, font, measure: ImageDraw.ImageDraw) -> str:
    """The text, cut with an ellipsis to fit `width` pixels."""
    while text and measure.textlength(text, font=font) > width:
        text = text[:-2] + "…"
    return text


def figure(e: Explanation, *, min_side: int = 256, side: int | None = None, slots: int | None = None,
           answers: bool = True) -> Image.Image:
    """The model's name, its view, then each token's map over it, a shared colour bar, and the heads' answers below.

    Args:
        e: an explanation with its view (explain sets it).
        min_side: small views are enlarged to at least this many pixels a side.
        side: every panel exactly this many pixels wide (the height in proportion): figures of models with different
            input sizes, drawn with one side, show their maps at one scale.
        slots: room for this many token maps (default: the explanation's own); an empty place says that the model
            has no such token, so that a ViT's figure is as wide as the DeiT's beside it.
        answers: the heads' answers under the maps (the app shows them in a table instead).
    """
    assert e.view is not None, "figure needs the model's view (explain sets it)"
    min_side = side or min_side
    vmax = max(float(m.max()) for m in e.maps.values())
    panels = {f"input {e.view.width}x{e.view.height}": _fit(display_image(e.view, min_side), side)}
    panels |= {f"{token} token": _fit(overlay(e.view, m, vmax=vmax, min_side=min_side), side)
               for token, m in e.maps.items()}
    places = 1 + max(slots or 0, len(e.maps))
    pw, ph = panels[next(iter(panels))].size
    # the name and titles large enough to read where the figure is drawn at a third of its size (a phone)
    pad, line_h, title, font, small = 12, 24, _font(26), _font(18), _font(13)
    method = "attention rollout" if e.method == "rollout" else "last layer attention"
    subheader, lines = f"{method}: share of attention per patch", _text_lines(e) if answers else []
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    text_w = max((measure.textlength(s, font=font) for s in lines), default=0)
    width = int(max(places * (pw + pad) + 70, text_w) + 2 * pad)  # 70: the colour bar and its ticks
    top = pad + 32 + 22 + 26                    # the model's name, the method, then panel titles
    height = top + ph + pad + (len(lines) * line_h + pad if lines else 0)
    fig = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(fig)
    draw.text((pad, pad), _clip(e.model, width - 2 * pad, title, measure), fill="black", font=title)
    draw.text((pad, pad + 32), _clip(subheader, width - 2 * pad, font, measure), fill="dimgray", font=font)
    for i, (name, panel) in enumerate(panels.items()):
        x = pad + i * (pw + pad)
        draw.text((x, pad + 32 + 24), name, fill="black", font=font)
        fig.paste(panel, (x, top))
    for i in range(len(panels), places):  # the tokens this model does not have
        x = pad + i * (pw + pad)
        draw.rectangle((x, top, x + pw - 1, top + ph - 1), outline="lightgray")
        draw.text((x + pw / 2, top + ph / 2), "no distillation token" if "class" in e.maps else "no such token",
                  fill="gray", font=font, anchor="mm")
    _colour_bar(fig, pad + places * (pw + pad), top, ph, vmax, small)
    for i, s in enumerate(lines):
        draw.text((pad, top + ph + pad + i * line_h), s, fill="black", font=font)
    return fig


def figures(explanations: Sequence[Explanation | None], *, side: int = 256) -> list[Image.Image | None]:
    """Figures of explanations shown side by side, at one size and scale: panels `side` pixels wide, room for as
    many token maps in each (a ViT's beside a DeiT's), no answers (the page's heads table holds them). None (a model
    explained without maps) stays None."""
    slots = max((len(e.maps) for e in explanations if e), default=1)
    return [figure(e, side=side, slots=slots, answers=False) if e else None for e in explanations]
