"""What the tests share: the repository's paths, hostile images, a fake Hub cache, launching the app."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
EXAMPLES = ROOT / "examples"
