"""DeiT's heads as a Markdown table, built without Gradio or a model."""
import numpy as np

from vitspace.explain.explanation import Explanation, HeadAnswer
from vitspace.explain.report import agreement, answers, heads_table


def _explanation(model: str, heads=(), teacher=None) -> Explanation:
    answer = HeadAnswer("model", [("ship", 0.81), ("airplane", 0.1), ("truck", 0.04)])
    return Explanation(model, "rollout", {}, np.zeros(10), answer, list(heads), teacher)


DEIT = _explanation("deit-tiny-cifar10",
                    heads=[HeadAnswer("class", [("ship", 0.7), ("airplane", 0.2), ("bird", 0.05)]),
                           HeadAnswer("distillation", [("airplane", 0.6), ("ship", 0.3), ("bird", 0.05)])],
                    teacher=HeadAnswer("resnet9-cifar10", [("ship", 0.99), ("airplane", 0.005), ("cat", 0.001)]))


def test_one_block_per_model_its_heads_its_answer_the_teacher_apart_and_agreement_as_a_sentence():
    assert heads_table([None, DEIT]) == (
        "**deit-tiny-cifar10**\n\n"
        "|  | top 3 |\n|---|---|\n"
        "| class head | ship 70%, airplane 20%, bird 5% |\n"
        "| distillation head | airplane 60%, ship 30%, bird 5% |\n"
        "| **answer** (mean of the two heads) | ship 81%, airplane 10%, truck 4% |\n"
        "| teacher resnet9-cifar10 (the model it learned from) | ship 99%, airplane 0%, cat 0% |\n\n"
        "The class and distillation heads disagree: ship against airplane.")


def test_heads_that_agree_say_so():
    agreeing = _explanation("deit-tiny-cifar10", heads=[HeadAnswer("class", [("ship", 0.7)]),
                                                        HeadAnswer("distillation", [("ship", 0.6)])])
    assert agreement(agreeing) == "The class and distillation heads agree: both say ship."


def test_a_vit_has_one_answer_and_no_verdict():
    vit = _explanation("vit-tiny-cifar10")
    assert [name for name, _ in answers(vit)] == ["**answer**"]
    assert heads_table([vit]).splitlines()[4:] == ["| **answer** | ship 81%, airplane 10%, truck 4% |"]
    assert agreement(vit) == ""


def test_two_models_two_blocks():
    blocks = heads_table([_explanation("vit-tiny-cifar10"), DEIT])
    assert blocks.startswith("**vit-tiny-cifar10**\n\n") and "\n\n**deit-tiny-cifar10**\n\n" in blocks


def test_no_explanations_no_table():
    assert heads_table([None, None]) == ""
