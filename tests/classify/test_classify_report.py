"""The Classify tab's text, built without Gradio: confidences for a label widget and the Markdown summary."""
from vitspace.classify.classifier import Comparison, Prediction
from vitspace.classify.report import SHARED_BATCH, answers_table, confidences, summary
from vitspace.models.registry import get_spec
from vitspace.train.record import imitation

VIT = Prediction("vit-tiny-cifar10", [("ship", 0.9123), ("airplane", 0.05)], 12.345)
DEIT = Prediction("deit-tiny-cifar10", [("ship", 0.8), ("truck", 0.1)], 15.0)


def test_confidences_keep_the_order_best_first():
    assert list(confidences(VIT).items()) == [("ship", 0.9123), ("airplane", 0.05)]


def test_summary_of_two_models_that_agree():
    assert summary(Comparison([VIT, DEIT])) == (
        "**The models agree.**\n\n"
        "| model | top-1 | probability | latency | images in the batch |\n|---|---|---|---|---|\n"
        "| vit-tiny-cifar10 | ship | 91.2% | 12.3 ms | 1 |\n"
        "| deit-tiny-cifar10 | ship | 80.0% | 15.0 ms | 1 |")


def test_summary_says_when_a_forward_pass_was_shared_and_adds_the_fast_paths_notes():
    shared = Prediction("deit-tiny-cifar10 [fast]", [("truck", 0.7)], 30.0, batch=4)
    text = summary(Comparison([VIT, shared]), fast_notes=["", "fast path: `model-int8-x86.pt2`"])
    assert text.startswith("**The models disagree.**\n\n")
    assert "| deit-tiny-cifar10 [fast] | truck | 70.0% | 30.0 ms | 4 |" in text
    assert text.endswith(f"\n\n{SHARED_BATCH}\n\ndeit-tiny-cifar10 [fast]: fast path: `model-int8-x86.pt2`")


def test_summary_ends_with_what_each_model_is_once():
    text = summary(Comparison([VIT, DEIT]), models=["vit-tiny-cifar10", "deit-tiny-cifar10", "vit-tiny-cifar10"])
    assert text.endswith(
        "| deit-tiny-cifar10 | ship | 80.0% | 15.0 ms | 1 |\n\n"
        "- **vit-tiny-cifar10**: ViT student (class token only) trained on CIFAR-10 without a teacher\n"
        f"- **deit-tiny-cifar10**: {get_spec('deit-tiny-cifar10').description}"
        + (f"; {imitation('deit-tiny-cifar10')}" if imitation("deit-tiny-cifar10") else ""))
    assert "DeiT student (class + distillation token) distilled on CIFAR-10 from" in text


def test_answers_table_has_a_header_and_a_row_per_model():
    assert answers_table([VIT]).splitlines()[2] == "| vit-tiny-cifar10 | ship | 91.2% | 12.3 ms | 1 |"
