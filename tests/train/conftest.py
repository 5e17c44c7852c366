"""What the tests of vitspace.train share: a tiny CIFAR-10 image folder."""
import pytest
from support import FIXTURES


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """An ImageFolder pair (train/, test/) made of the committed CIFAR-10 fixture (100 test images per class)."""
    root = tmp_path_factory.mktemp("cifar")
    (root / "train").symlink_to(FIXTURES / "cifar10-test")
    (root / "test").symlink_to(FIXTURES / "cifar10-test")
    return root
