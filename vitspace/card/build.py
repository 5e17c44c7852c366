"""Model cards rendered from `templates/modelcard.md`: the card of a build, as text, and as a README written
beside the build with the images it shows.

The template is rendered by huggingface_hub's `ModelCard.from_template`, its YAML front matter the context's
`hub_metadata()` (a `ModelCardData`). A section without data is left out.
"""
import re
from collections.abc import Iterable
from pathlib import Path

from huggingface_hub import ModelCard

from ..errors import CardError
from ..train.record import CURVES, CURVES_FILE
from ..util import atomic
from .context import card_context

__all__ = ["build_card", "render_card", "card_preview", "card_images", "TEMPLATE", "CARD_DIR"]

TEMPLATE = Path(__file__).resolve().parents[2] / "templates" / "modelcard.md"
CARD_DIR = "card"   # card_preview writes ARTIFACTS/card/README.md, never a README beside other files


def _tidy(text: str) -> str:
    # the template keeps its block tags on their own lines for legibility; what they leave is blank lines
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def build_card(model: str, artifacts_dir: str | Path, benchmark: str | Path | dict | None = None, *,
               repo_id: str | None = None, weights_json: str | Path | None = None,
               files: Iterable[str] | None = None) -> ModelCard:
    """The model card of MODEL's build in ARTIFACTS_DIR; the arguments are `context.card_context`'s.

    Returns:
        The card: YAML front matter, then markdown. Not yet checked against the Hub's rules
        (`hub_rules.validate_card`).

    Raises:
        CardError: unusable artifacts or benchmark, or the template is missing.
    """
    ctx = card_context(model, artifacts_dir, benchmark, repo_id=repo_id, weights_json=weights_json, files=files)
    if not TEMPLATE.is_file():
        raise CardError(f"card template {TEMPLATE} is missing (vitspace runs from its source tree)")
    card = ModelCard.from_template(ctx.hub_metadata(), template_path=str(TEMPLATE), **ctx.template_vars())
    return ModelCard(_tidy(str(card)))


def render_card(model: str, artifacts_dir: str | Path, benchmark: str | Path | dict | None = None, *,
                repo_id: str | None = None, weights_json: str | Path | None = None,
                files: Iterable[str] | None = None) -> str:
    """`build_card`, as text.

    Returns:
        The README.md text.
    """
    return str(build_card(model, artifacts_dir, benchmark, repo_id=repo_id, weights_json=weights_json, files=files))


def card_preview(model: str, artifacts_dir: str | Path, *,
                 benchmark: str | Path | dict | None = None) -> tuple[str, Path]:
    """The card for the app's Card tab, also written as ARTIFACTS/card/README.md for download.

    Args:
        model: registry name, Hub id or model folder.
        artifacts_dir: a compress build.
        benchmark: benchmark JSON shown in the card.

    Returns:
        (the markdown, the README's path), the images it shows copied beside the README.
    """
    text = render_card(model, artifacts_dir, benchmark)
    path = Path(artifacts_dir) / CARD_DIR / "README.md"
    atomic.write_text(path, text)
    for name, source in card_images(text).items():
        atomic.write_bytes(path.parent / name, source.read_bytes())
    return text, path


def card_images(text: str) -> dict[str, Path]:
    """The committed images a card shows: they travel beside it.

    Args:
        text: the card.

    Returns:
        The file each image is linked with -> the image on disk.
    """
    return {CURVES_FILE: CURVES} if f"]({CURVES_FILE})" in text and CURVES.is_file() else {}
