"""Token Merging: exact at r=0, r fewer tokens per block, class and distillation tokens never merged, the
original model untouched, and the trained student's predictions kept for a small r."""

import pytest
import torch
from support import EXAMPLES

import vitspace
from vitspace.models.tome import apply_tome, name_for, token_schedule

# name: (trained weights, input size, protected tokens)
MODELS = {"vit-tiny-cifar10": (True, 32, 1), "deit-tiny-cifar10": (True, 32, 2), "deit-tiny": (False, 224, 2)}
# 4 of the student's 64 patch tokens per block: 99.2% top-1 agreement with the unmerged student on 1,000 CIFAR-10
# test images for 84% of its FLOPs (benchmarks/tome_curve.py); all 10 examples agree up to r=16
SMALL_R = 4


@pytest.fixture(scope="module", params=list(MODELS))
def case(request):
    pretrained, size, protected = MODELS[request.param]
    torch.manual_seed(0)
    return vitspace.create_model(request.param, pretrained=pretrained).eval(), torch.randn(2, 3, size, size), protected


def _run(model, x):
    """Logits and each block's (tokens, sizes)."""
    outputs = []
    hooks = [b.register_forward_hook(lambda m, i, o: outputs.append(o)) for b in model.blocks]
    try:
        with torch.no_grad():
            return model(x), outputs
    finally:
        for h in hooks:
            h.remove()


def test_r0_gives_the_models_own_logits(case):
    model, x, _ = case
    with torch.no_grad():
        torch.testing.assert_close(apply_tome(model, 0)(x), model(x), rtol=0, atol=1e-5)


def test_each_block_merges_r_tokens_and_the_logits_keep_their_shape(case):
    model, x, _ = case
    tome = apply_tome(model, SMALL_R)
    logits, outputs = _run(tome, x)
    counts = [tokens.shape[1] for tokens, _ in outputs]
    first = counts[0] + SMALL_R
    assert counts == [first - SMALL_R * (i + 1) for i in range(len(counts))]
    assert counts == tome.tokens == token_schedule(model, SMALL_R)
    with torch.no_grad():
        assert logits.shape == model(x).shape
    assert torch.isfinite(logits).all()


def test_class_and_distillation_tokens_are_never_merged(case):
    model, x, protected = case
    n = token_schedule(model, 0)[0]
    tome = apply_tome(model, 16)  # up to half the patch tokens of a block: the most merging there is
    assert tome.protected == protected
    _, merged = _run(tome, x)
    for tokens, size in merged:
        assert (size[:, :protected] == 1).all()  # each still stands for itself alone
        assert (size.sum(1) == n).all()          # and every patch is in exactly one token
    # tokens merge after the attention, so the first block's protected tokens come out as without merging
    _, unmerged = _run(apply_tome(model, 0), x)
    torch.testing.assert_close(merged[0][0][:, :protected], unmerged[0][0][:, :protected], rtol=0, atol=1e-5)


def test_the_original_model_is_left_as_it_was(case):
    model, x, _ = case
    before = {k: v.clone() for k, v in model.state_dict().items()}
    structure = repr(model)
    with torch.no_grad():
        expected = model(x)
        tome = apply_tome(model, 8)
        tome(x)
        for p in tome.parameters():  # the copy shares no tensor with the original
            p.add_(1)
        assert repr(model) == structure
        assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
        torch.testing.assert_close(model(x), expected, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["vit-tiny-cifar10", "deit-tiny-cifar10"])
def test_each_image_is_merged_on_its_own(name):
    x = torch.randn(2, 3, 32, 32)
    tome = apply_tome(vitspace.create_model(name).eval(), 8)
    with torch.no_grad():
        torch.testing.assert_close(tome(x), torch.cat([tome(x[:1]), tome(x[1:])]), rtol=1e-4, atol=1e-4)


def test_the_trained_student_keeps_its_predictions_for_a_small_r():
    clf = vitspace.get_classifier("deit-tiny-cifar10")
    pixels = clf.preprocess([vitspace.load_image(p) for p in sorted(EXAMPLES.glob("*.jpg"))])
    assert len(pixels) == 10
    with torch.no_grad():
        agree = (apply_tome(clf.module, SMALL_R)(pixels).argmax(1) == clf.module(pixels).argmax(1)).sum().item()
    assert agree >= 9


@pytest.mark.slow
def test_exports_with_a_dynamic_batch():
    tome = apply_tome(vitspace.create_model("deit-tiny-cifar10").eval(), 8)
    x = torch.randn(3, 3, 32, 32)
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(tome, (x[:2],), dynamic_shapes=({0: batch},))
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), tome(x), rtol=1e-5, atol=1e-5)


@pytest.mark.slow  # an export, a PT2E build and two inductor compiles: minutes on 2 cores
def test_compress_builds_the_merged_files_which_load_and_answer_as_measured(tmp_path):
    """The int8 merged file (its fp32 twin is the same export without PT2E, which test_build's model-int8-x86.pt2
    and the export test above cover between them)."""
    from vitspace.compress.build import CompressConfig, compress
    from vitspace.export import VARIANTS, default_files
    assert all(f in VARIANTS and f not in default_files() for f in ("model-tome-r8.pt2", "model-int8-x86-tome-r8.pt2"))
    clf = vitspace.get_classifier("deit-tiny-cifar10")  # built when asked for, as here
    manifest = compress(clf, CompressConfig("deit-tiny-cifar10", tmp_path, ("model-int8-x86-tome-r8.pt2",), limit=10))
    pixels = clf.preprocess([vitspace.load_image(p) for p in sorted(EXAMPLES.glob("*.jpg"))])
    with torch.no_grad():
        merged = apply_tome(clf.module, 8)(pixels).argmax(1)
    for entry in manifest.files:
        assert entry.status == "ok", entry.reason
        assert entry.passes[0].startswith("token merging: 8 per block") and entry.gate in ("pass", "fail")
        with torch.no_grad():
            top1 = VARIANTS[entry.file].load(tmp_path / entry.file)(pixels).argmax(1)
        assert (top1 == merged).sum().item() >= 9  # the file runs the merged model, int8 or not
        agree = (top1 == clf.module(pixels).argmax(1)).float().mean().item()
        assert entry.fidelity.top1_agreement == pytest.approx(agree, abs=0.1)  # one image's int8 flip at most


def test_unsupported_models_and_rates_are_refused():
    with pytest.raises(ValueError, match="ToMe supports"):
        apply_tome(torch.nn.Linear(2, 2), 4)
    with pytest.raises(ValueError, match="r must be"):
        apply_tome(vitspace.create_model("vit-tiny-cifar10"), -1)


def test_variant_names_carry_the_merge_rate():
    assert name_for(8) == "tome-r8"
    assert name_for(8, "model-int8-x86.pt2") == "model-int8-x86-tome-r8.pt2"
