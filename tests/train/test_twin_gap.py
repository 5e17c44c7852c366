"""benchmarks/twin_gap.py: whether the DeiT's lead over its ViT twin is more than the noise of a test folder."""
import json
import sys

import pytest
from support import FIXTURES, ROOT

import vitspace as vs
from vitspace.classify.accuracy import evaluate

sys.path.insert(0, str(ROOT / "benchmarks"))
import twin_gap  # noqa: E402


@pytest.mark.parametrize("only_first, only_second, p", [
    (0, 0, 1.0),
    (5, 5, 1.0),
    (1, 9, 2 * (1 + 10) / 1024),      # n = 10: P(X <= 1) twice
    (9, 1, 2 * (1 + 10) / 1024),      # symmetric
    (0, 20, 2 / 2 ** 20),
])
def test_mcnemar_exact_matches_the_binomial_by_hand(only_first, only_second, p):
    assert twin_gap.mcnemar_exact(only_first, only_second) == pytest.approx(p, rel=1e-12)


@pytest.mark.slow
def test_the_paired_counts_agree_with_each_models_accuracy(tmp_path, capsys):
    (tmp_path / "test").symlink_to(FIXTURES / "cifar10-test")  # DIR/test/<class>/*.jpg
    pair = ["vit-tiny-cifar10", "deit-tiny-cifar10"]
    twin_gap.main(["--data", str(tmp_path), "--pair", *pair])
    out = json.loads(capsys.readouterr().out)
    assert out["images"] == 1000
    assert out["both right"] + out[f"only {pair[0]}"] + out[f"only {pair[1]}"] <= 1000
    for name in pair:  # each top-1 as the app's own evaluation measures it
        measured = evaluate(vs.get_classifier(name), str(tmp_path / "test"), batch_size=250, progress=False)
        assert out[f"top1 {name}"] == pytest.approx(measured.top1 * 100, abs=0.11)
        assert out["both right"] + out[f"only {name}"] == round(measured.top1 * 1000)
    lead = (out[f"only {pair[1]}"] - out[f"only {pair[0]}"]) / 10
    assert out["lead (points)"] == pytest.approx(lead)
    assert lead == pytest.approx(out[f"top1 {pair[1]}"] - out[f"top1 {pair[0]}"], abs=1e-9)
    assert 0 < out["p (McNemar, exact)"] <= 1
