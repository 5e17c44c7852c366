"""What the tests share: the repository's paths, hostile images, a fake Hub cache, launching the app."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
EXAMPLES = ROOT / "examples"


def one_torch_thread():
    """A fixture's body (`pytest.fixture(autouse=True)(one_torch_thread)`): torch on one thread meanwhile, as on a
    busy 2-core machine one thread is faster than two that wait on each other; restored afterwards."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
