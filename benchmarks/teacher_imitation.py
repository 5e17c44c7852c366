"""How far the embedded students imitate the teacher on a CIFAR-10 test folder, in fp32.

    python benchmarks/teacher_imitation.py --data DIR [--teacher resnet9-cifar10] [--students vit-tiny-cifar10 ...]

The teacher runs as registered (the ResNet-9 with its flip test-time augmentation; a training epoch's log
scores it without). Prints, per student, what each training epoch logs
(`vitspace.train.metrics.teacher_agreement`): the distillation head's top-1 agreement with the teacher (a
ViT's one head: the reference), its KL to the teacher, the class head's agreement, and on the images the
teacher gets wrong, how often the student gives the teacher's wrong answer.
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vitspace.data.folders import load_split  # noqa: E402
from vitspace.models.factory import create_model  # noqa: E402
from vitspace.train.metrics import logits_of, teacher_agreement  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="CIFAR-10 as image folders: DIR/test/<class>/*.jpg")
    parser.add_argument("--teacher", default="resnet9-cifar10")
    parser.add_argument("--students", nargs="+", default=["vit-tiny-cifar10", "deit-tiny-cifar10"])
    args = parser.parse_args(argv)
    test = load_split(args.data, "test")
    taught = logits_of(create_model(args.teacher, pretrained=True).eval(), test)
    print(json.dumps({"teacher": args.teacher, "images": len(test),
                      "teacher_mistakes": int((taught.argmax(1) != test.labels).sum())}))
    for name in args.students:
        found = teacher_agreement(create_model(name, pretrained=True).float(), taught, test, bf16=False)
        print(json.dumps({"student": name} | {k: round(v, 5) for k, v in found.items()}))


if __name__ == "__main__":
    main()
