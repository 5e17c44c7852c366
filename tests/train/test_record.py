"""vitspace.train.record: parts per machine and CPU hours from a training log; the embedded models' table
and curves, as the README and the model cards show them."""
import json

import numpy as np
import pytest
from PIL import Image

from vitspace.models.registry import WEIGHTS_DIR, get_spec, list_models
from vitspace.train import record as trainlog
from vitspace.train.report import main as report_main

ROOT = trainlog.CURVES.parent.parent
# the embedded models whose weights are committed (airbench-cifar10 is registered before its run is installed)
EMBEDDED = [n for n in list_models() if get_spec(n).source == "embedded" and get_spec(n).weights_file.exists()]


def _epoch(n, **extra):
    return {"epoch": n, "epoch_s": 3600.0, "images_per_s": 100.0, **extra}


def test_parts_follow_the_machine_and_count_cpu_time_where_it_was_logged():
    amd = dict(machine="x86-64 AMD EPYC, AVX512", device="cpu", bf16=True, threads=1)
    gpu = dict(machine="CUDA NVIDIA H100", device="cuda", bf16=True, threads=1)
    history = [_epoch(1), _epoch(2), _epoch(3, **amd, cpu_s=1800.0), _epoch(4, **amd, cpu_s=1800.0),
               _epoch(5, **gpu, cpu_s=360.0)]
    parts = trainlog.parts(history, threads=2)
    assert [p.epochs for p in parts] == [[1, 2], [3, 4], [5, 5]]
    assert [p.machine for p in parts] == [None, amd["machine"], gpu["machine"]]
    assert [p.cpu_hours for p in parts] == [4.0, 1.0, 0.1]  # an unlogged epoch: wall clock x the run's threads
    assert [p.cpu_measured for p in parts] == [False, True, True]
    assert parts[0].hours == 2.0 and parts[0].threads == 2


def test_each_committed_model_records_its_parts_curve_and_evaluation():
    for name in EMBEDDED:
        meta = json.loads((WEIGHTS_DIR / f"{name}.json").read_text())
        parts = meta["metrics"]["parts"]
        epochs = [e for p in parts for e in range(p["epochs"][0], p["epochs"][1] + 1)]
        assert epochs == [h["epoch"] for h in meta["history"]] == list(range(1, len(meta["history"]) + 1))
        assert all("machine" in p for p in parts), "the machine class per part (None where it was not logged)"
        assert meta["metrics"]["cpu_hours"] == pytest.approx(sum(p["cpu_hours"] for p in parts), abs=0.01)
        assert meta["train_config"]["model"] == name and meta["evaluate"]["n"] >= 8000
        assert meta["params"] < 3.0e6 or get_spec(name).family == "cnn", "students have at most 3 M parameters"


def test_the_table_gives_each_students_last_logged_agreement_with_its_teacher():
    meta = {"model": "deit-tiny-cifar10", "params": 2_933_543, "evaluate": {"top1": 0.9, "n": 8000},
            "train_config": {"teacher_model": "airbench-cifar10", "threads": 1},
            "history": [_epoch(1, test_acc=0.5), _epoch(2, test_acc=0.6, teacher_agree=0.61),
                        _epoch(3, test_acc=0.7, teacher_agree=0.7234)]}
    deit = trainlog.Trained.from_json(meta)
    assert (deit.teacher, deit.teacher_agree) == ("airbench-cifar10", 0.7234)
    row = trainlog.table([deit]).splitlines()[2]
    assert row.startswith("| DeiT student | `deit-tiny-cifar10` | 2.93 M | 3 | 90.00% (8,000 images) | "
                          "72.34% (`airbench-cifar10`) | 3.0 (wall clock x threads) |"), row
    unlogged = trainlog.Trained.from_json({**meta, "history": meta["history"][:1]})
    assert unlogged.teacher is None and "| 50.00% " not in trainlog.table([unlogged])
    assert "| not logged |" in trainlog.table([unlogged])


def test_the_deit_students_imitation_of_its_teacher_is_told_against_the_vits(tmp_path):
    def write(name, agree, teacher="airbench-cifar10"):
        history = [_epoch(1, test_acc=0.5), _epoch(2, test_acc=0.6, **({"teacher_agree": agree} if agree else {}))]
        meta = {"model": name, "params": 2_933_543, "evaluate": {"top1": 0.6, "n": 8000},
                "train_config": {"teacher_model": teacher}, "history": history}
        (tmp_path / f"{name}.json").write_text(json.dumps(meta))

    write("deit-tiny-cifar10", 0.8125)
    assert trainlog.imitation("deit-tiny-cifar10", tmp_path) == (
        "its distillation head agrees with its teacher `airbench-cifar10` on 81.2% of the CIFAR-10 test images")
    write("vit-tiny-cifar10", 0.75)
    assert trainlog.imitation("deit-tiny-cifar10", tmp_path).endswith(
        ", the ViT student, which never saw the teacher, on 75.0%")
    write("vit-tiny-cifar10", 0.75, teacher="resnet9-cifar10")  # another teacher: no reference
    assert "ViT" not in trainlog.imitation("deit-tiny-cifar10", tmp_path)
    assert trainlog.imitation("vit-tiny-cifar10", tmp_path) == trainlog.imitation("someone/vit", tmp_path) == ""
    write("deit-tiny-cifar10", None)
    assert trainlog.imitation("deit-tiny-cifar10", tmp_path) == ""


def test_readme_shows_the_table_and_the_curves_of_the_committed_weights(tmp_path):
    models = trainlog.embedded()
    roles = [t.role for t in models]
    assert roles[-2:] == ["ViT student", "DeiT student"] and set(roles[:-2]) == {"teacher"}, roles
    readme = (ROOT / "README.md").read_text()
    assert trainlog.table(models) in readme, "README's table: python -m vitspace.train.report"
    assert f"](docs/{trainlog.CURVES_FILE})" in readme
    # the committed figure is the one the committed JSONs draw (redraw with --png after installing weights)
    committed = np.asarray(Image.open(trainlog.CURVES).convert("RGB"), dtype=np.int16)
    drawn = np.asarray(Image.open(trainlog.draw(models, tmp_path / "c.png")).convert("RGB"), dtype=np.int16)
    assert committed.shape == drawn.shape
    assert (np.abs(committed - drawn).max(axis=2) > 8).mean() < 0.002


def test_command_prints_the_table_and_draws(tmp_path, capsys):
    png = tmp_path / "curves.png"
    assert report_main(["--png", str(png)]) == 0
    out = capsys.readouterr().out
    assert out == trainlog.table(trainlog.embedded())
    assert "| DeiT student | `deit-tiny-cifar10` | 2.93 M |" in out
    assert Image.open(png).size[0] > 400
    assert report_main(["--weights", str(tmp_path)]) == 2
    assert "no embedded model's JSON" in capsys.readouterr().err


def test_readme_option_replaces_the_old_table_and_keeps_the_rest(tmp_path, capsys):
    readme = tmp_path / "README.md"
    # a table of the columns before "agrees with the teacher" was one
    old = ("| role | model | parameters | epochs | test top-1 | CPU hours | trained on |\n"
           "|---|---|---|---|---|---|---|\n| ViT student | `vit-tiny-cifar10` | old |\n")
    readme.write_text(f"# Title\n\nBefore.\n\n{old}\nAfter.\n")
    assert report_main(["--readme", str(readme)]) == 0
    assert readme.read_text() == f"# Title\n\nBefore.\n\n{trainlog.table(trainlog.embedded())}\nAfter.\n"
    readme.write_text("no table here\n")
    assert report_main(["--readme", str(readme)]) == 2 and "no table starting with" in capsys.readouterr().err
    assert readme.read_text() == "no table here\n"
