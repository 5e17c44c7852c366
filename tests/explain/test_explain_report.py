"""DeiT's heads as a Markdown table, built without Gradio or a model."""
import numpy as np

from vitspace.explain.explanation import Explanation, HeadAnswer
from vitspace.explain.report import answers, heads_table


def _explanation(model: str, heads=(), teacher=None) -> Explanation:
    answer = HeadAnswer("model", [("ship", 0.81), ("airplane", 0.1), ("truck", 0.04)])
    return Explanation(model, "rollout", {}, np.zeros(10), answer, list(heads), teacher)


DEIT = _explanation("deit-tiny-cifar10",
                    heads=[HeadAnswer("class", [("ship", 0.7), ("airplane", 0.2), ("bird", 0.05)]),
                           HeadAnswer("distillation", [("airplane", 0.6), ("ship", 0.3), ("bird", 0.05)])],
                    teacher=HeadAnswer("resnet9-cifar10", [("ship", 0.99), ("airplane", 0.005), ("cat", 0.001)]))


def test_deits_heads_their_average_the_teacher_and_whether_the_heads_agree():
    assert heads_table([None, DEIT]) == (
        "| model | head | top-3 |\n|---|---|---|\n"
        "| deit-tiny-cifar10 | class head | ship 70%, airplane 20%, bird 5% |\n"
        "| deit-tiny-cifar10 | distillation head | airplane 60%, ship 30%, bird 5% |\n"
        "| deit-tiny-cifar10 | answer (mean of the two heads) | ship 81%, airplane 10%, truck 4% |\n"
        "| deit-tiny-cifar10 | teacher resnet9-cifar10 | ship 99%, airplane 0%, cat 0% |\n"
        "| deit-tiny-cifar10 | do the heads agree? | **no** |")


def test_a_vit_has_one_answer_and_no_verdict():
    vit = _explanation("vit-tiny-cifar10")
    assert [name for name, _ in answers(vit)] == ["answer"]
    assert heads_table([vit]).splitlines()[2:] == ["| vit-tiny-cifar10 | answer | ship 81%, airplane 10%, truck 4% |"]


def test_no_explanations_no_table():
    assert heads_table([None, None]) == ""
