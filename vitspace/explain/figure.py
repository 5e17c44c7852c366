"""Explanations drawn: the model's view, each token's map over it, a colour bar, and the heads' answers."""
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .explanation import Explanation, HeadAnswer

__all__ = ["colorize", "display_image", "overlay", "answer_line", "figure"]

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


def figure(e: Explanation, *, min_side: int = 256) -> Image.Image:
    """The model's view, then each token's map over it, a shared colour bar, and the heads' answers below.

    Args:
        e: an explanation with its view (explain sets it).
        min_side: small views are enlarged to at least this many pixels a side.
    """
    assert e.view is not None, "figure needs the model's view (explain sets it)"
    vmax = max(float(m.max()) for m in e.maps.values())
    panels = {f"input {e.view.width}x{e.view.height}": display_image(e.view, min_side)}
    panels |= {f"{token} token": overlay(e.view, m, vmax=vmax, min_side=min_side) for token, m in e.maps.items()}
    pw, ph = panels[next(iter(panels))].size
    pad, line_h, font, small = 12, 20, _font(15), _font(13)
    method = "attention rollout" if e.method == "rollout" else "last layer attention"
    header, lines = f"{e.model}  ·  {method}, share of attention per patch", _text_lines(e)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    text_w = max(measure.textlength(s, font=font) for s in [header, *lines])
    width = int(max(len(panels) * (pw + pad) + 70, text_w) + 2 * pad)  # 70: the colour bar and its ticks
    top = pad + 2 * line_h                      # the header line, then panel titles
    fig = Image.new("RGB", (width, top + ph + pad + len(lines) * line_h + pad), "white")
    draw = ImageDraw.Draw(fig)
    draw.text((pad, pad), header, fill="black", font=font)
    for i, (title, panel) in enumerate(panels.items()):
        x = pad + i * (pw + pad)
        draw.text((x, pad + line_h), title, fill="black", font=font)
        fig.paste(panel, (x, top))
    _colour_bar(fig, pad + len(panels) * (pw + pad), top, ph, vmax, small)
    for i, s in enumerate(lines):
        draw.text((pad, top + ph + pad + i * line_h), s, fill="black", font=font)
    return fig
