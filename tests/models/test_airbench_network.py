"""vitspace.models.airbench: the airbench-style teacher's network, its test-time augmentation and its registry
entry, registered before its weights are installed."""
import pytest
import torch
import torch.nn.functional as F
from support import one_torch_thread

import vitspace as vs
from vitspace.models.airbench import WIDTHS, AirbenchCifar
from vitspace.models.loading import weights_origin

one_thread = pytest.fixture(autouse=True)(one_torch_thread)


def test_output_shape_and_test_time_augmentation():
    torch.manual_seed(0)
    model = AirbenchCifar(widths=(8, 16, 16))
    x = torch.randn(5, 3, 32, 32)
    model.train()
    assert model(x).shape == (5, 10)
    model.eval()
    with torch.no_grad():
        plain = model.logits(x)
        mirror = (plain + model.logits(x.flip(-1))) / 2
        padded = F.pad(x, (1,) * 4, mode="reflect")
        shifted = [padded[..., :32, :32], padded[..., 2:, 2:]]
        shifted = sum((model.logits(v) + model.logits(v.flip(-1))) / 2 for v in shifted) / 2
        assert torch.allclose(model(x), mirror / 2 + shifted / 2, atol=1e-5)  # airbench's tta_level 2
        model.tta_level = 1
        assert torch.allclose(model(x), mirror, atol=1e-5)
        model.flip_tta = False  # python -m vitspace.train --no-teacher-tta
        assert model.tta is False and torch.equal(model(x), plain)


def test_state_dict_keeps_the_names_of_the_first_runs_checkpoints():
    """Runs started with the first airbench code resume into this network: the same names, shapes, frozen parts."""
    model = AirbenchCifar()
    group = ["conv1.weight", *(f"norm1.{k}" for k in ("weight", "bias", "running_mean", "running_var",
                                                     "num_batches_tracked")),
             "conv2.weight", *(f"norm2.{k}" for k in ("weight", "bias", "running_mean", "running_var",
                                                     "num_batches_tracked"))]
    assert list(model.state_dict()) == ["whiten.weight", "whiten.bias",
                                        *(f"layers.{i}.{k}" for i in range(3) for k in group), "head.weight"]
    assert model.whiten.weight.shape == (24, 3, 2, 2) and model.head.weight.shape == (10, WIDTHS[-1])
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert frozen == ["whiten.weight", *(f"layers.{i}.norm{j}.weight" for i in range(3) for j in (1, 2))]


def test_registered_as_an_embedded_teacher_and_available_once_installed():
    spec = vs.get_spec("airbench-cifar10")
    assert spec.family == "cnn" and spec.source == "embedded" and spec.input_size == 32 and len(spec.labels) == 10
    a = vs.create_model("airbench-cifar10", pretrained=False).state_dict()
    b = vs.create_model("airbench-cifar10", pretrained=False).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), "built deterministically, no data"
    assert vs.create_model("airbench-cifar10", pretrained=False).tta, "the registry's model averages six views"
    if not spec.weights_file.exists():  # until a run is installed (python -m vitspace.train.airbench --install)
        assert weights_origin(spec) == "unavailable" and not vs.model_info("airbench-cifar10").available
        with pytest.raises(vs.WeightsUnavailableError, match="airbench-cifar10"):
            vs.create_model("airbench-cifar10")
    else:  # its accuracy: tests/train/test_train.py::test_committed_weights_match_their_reported_accuracy
        assert weights_origin(spec) == "embedded" and vs.model_info("airbench-cifar10").available
        assert vs.create_model("airbench-cifar10").state_dict().keys() == a.keys()
