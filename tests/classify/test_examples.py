"""The examples follow the models chosen: CIFAR-10 images for CIFAR-10 models, photos for the others."""
from PIL import Image

from vitspace.classify.examples import EXAMPLES_DIR, PHOTOS_DIR, example_set


def test_cifar_models_get_the_cifar_images():
    label, paths = example_set(["vit-tiny-cifar10", "deit-tiny-cifar10"])
    assert label == "Examples: CIFAR-10 test images"
    assert [p.stem for p in paths][:3] == ["airplane", "automobile", "bird"] and len(paths) == 10
    assert all(p.parent == EXAMPLES_DIR for p in paths)


def test_imagenet_models_get_photos_at_their_own_resolution():
    label, paths = example_set(["vit-base", "deit-base"])  # resolved from the registry: no weights, no Hub
    assert label == "Examples: photos" and len(paths) >= 5 and all(p.parent == PHOTOS_DIR for p in paths)
    for p in paths:
        with Image.open(p) as im:
            assert im.format == "JPEG" and min(im.size) >= 224 and p.stat().st_size < 100_000
        assert p.name in (PHOTOS_DIR / "README.md").read_text(), "each photo's source and licence are recorded"


def test_a_mixed_pair_gets_both_and_a_model_that_cannot_be_read_counts_as_neither():
    label, paths = example_set(["vit-base", "deit-tiny-cifar10"])
    assert label == "Examples: photos and CIFAR-10 test images" and paths[0].parent == PHOTOS_DIR
    assert paths[-1].parent == EXAMPLES_DIR
    assert example_set(["no-such-model", "deit-tiny-cifar10"]).label == "Examples: CIFAR-10 test images"
    assert example_set(["", "no-such-model"]).label == "Examples: photos and CIFAR-10 test images"
