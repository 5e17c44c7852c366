"""Distillation: DeiT's losses, exact resume, DDP under torchrun, devices and precision, the GPU recipe
(tiny, on the CPU) and the committed weights."""
import dataclasses
import functools
import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from support import FIXTURES, ROOT

import vitspace as vs
from vitspace.classify.accuracy import evaluate
from vitspace.data.folders import CIFAR10_MEAN, CIFAR10_STD, load_split
from vitspace.errors import ConfigError
from vitspace.train.config import RENAMED, TrainConfig
from vitspace.train.loop import train
from vitspace.train.losses import DistillationLoss
from vitspace.train.metrics import evaluate_tensors
from vitspace.train.weights import install, save_weights
from vitspace.util.cli import parse_config
from vitspace.util.cpuinfo import CpuInfo, machine_class, native_bf16, parse_cpuinfo

CIFAR_FIXTURE = FIXTURES / "cifar10-test"   # 100 test images per class
EMBEDDED = ["vit-tiny-cifar10", "deit-tiny-cifar10", "resnet9-cifar10", "airbench-cifar10"]


class Fixed(torch.nn.Module):
    def __init__(self, logits):
        super().__init__()
        self.logits = torch.tensor(logits)

    def forward(self, x):
        return self.logits


def _ce(logits, target):
    return -logits[target] + math.log(sum(math.exp(v) for v in logits))


def _log_softmax(logits):
    z = math.log(sum(math.exp(v) for v in logits))
    return [v - z for v in logits]


CLS, KD, TEACHER, Y = [1.0, 0.0], [0.0, 1.0], [2.0, 0.0], 0


def test_hard_distillation_loss_by_hand():
    loss = DistillationLoss(torch.nn.CrossEntropyLoss(), Fixed([TEACHER]), "hard", alpha=0.5)
    got = loss(None, (torch.tensor([CLS]), torch.tensor([KD])), torch.tensor([Y]))
    # teacher's argmax is class 0: both heads are pushed to class 0
    assert got.item() == pytest.approx(0.5 * _ce(CLS, Y) + 0.5 * _ce(KD, 0), abs=1e-6)
    assert got.item() == pytest.approx(0.8132617, abs=1e-6)


@pytest.mark.parametrize("reduction, per", [("deit", 2), ("batchmean", 1)])
@pytest.mark.parametrize("tau", [1.0, 3.0])
def test_soft_distillation_loss_by_hand(tau, reduction, per):
    loss = DistillationLoss(torch.nn.CrossEntropyLoss(), Fixed([TEACHER]), "soft", alpha=0.3, tau=tau,
                            reduction=reduction)
    got = loss(None, (torch.tensor([CLS]), torch.tensor([KD])), torch.tensor([Y]))
    log_t = _log_softmax([v / tau for v in TEACHER])
    log_s = _log_softmax([v / tau for v in KD])
    kl = sum(math.exp(lt) * (lt - ls) for lt, ls in zip(log_t, log_s))
    # DeiT divides the summed KL by the logits' count (1 image x 2 classes), batchmean by the images
    expected = 0.7 * _ce(CLS, Y) + 0.3 * kl * tau * tau / per
    assert got.item() == pytest.approx(expected, abs=1e-6)


def test_distillation_loss_refuses_a_student_without_distillation_head():
    loss = DistillationLoss(torch.nn.CrossEntropyLoss(), Fixed([TEACHER]), "hard")
    with pytest.raises(ValueError, match="distillation logits"):
        loss(None, torch.tensor([CLS]), torch.tensor([Y]))
    with pytest.raises(ValueError, match="teacher"):
        DistillationLoss(torch.nn.CrossEntropyLoss(), None, "soft")


def test_teacher_stays_in_eval_mode_without_gradients():
    teacher = vs.create_model("resnet9-cifar10", pretrained=False)
    loss = DistillationLoss(torch.nn.CrossEntropyLoss(), teacher, "hard")
    teacher.train()  # a careless caller
    student = torch.randn(4, 10, requires_grad=True)
    loss(torch.randn(4, 3, 32, 32), (student, student * 2), torch.zeros(4, dtype=torch.long)).backward()
    assert not teacher.training and all(p.grad is None for p in teacher.parameters())


def _cfg(data, out, **kw) -> TrainConfig:
    return TrainConfig(**{"model": "deit-tiny-cifar10", "data": str(data), "out": str(out), "epochs": 2,
                          "batch_size": 32, "limit_train": 64, "limit_test": 32, "warmup_epochs": 1, **kw})


@pytest.mark.slow
def test_resume_continues_exactly(tiny_data, tmp_path):
    straight = tmp_path / "straight"
    train(_cfg(tiny_data, straight))
    resumed = tmp_path / "resumed"
    train(_cfg(tiny_data, resumed, stop_after_epochs=1))  # a run stopped after epoch 1
    assert not (resumed / "model.safetensors").exists()
    ckpt = torch.load(resumed / "last.pt", weights_only=False)
    assert ckpt["epoch"] == 1 and all(v.device.type == "cpu" for v in ckpt["model"].values())
    # as the code before devices wrote it: bf16=True, no device or compile, no machine in the history;
    # and before the renaming: stop_after, stop_at
    ckpt["config"] = {k: v for k, v in ckpt["config"].items() if k not in ("device", "compile", "install_dir")}
    ckpt["config"] = {{new: old for old, new in RENAMED.items()}.get(k, k): v for k, v in ckpt["config"].items()}
    assert "stop_after" in ckpt["config"] and "stop_after_epochs" not in ckpt["config"]
    ckpt["config"]["bf16"] = True
    ckpt["history"] = [{k: v for k, v in h.items() if k not in ("device", "machine", "bf16")} for h in ckpt["history"]]
    torch.save(ckpt, resumed / "last.pt")
    interim = json.loads(save_weights(resumed, tmp_path / "interim", "x").with_suffix(".json").read_text())
    assert interim["metrics"]["epochs_done"] == 1 and not interim["metrics"]["complete"]
    train(_cfg(tiny_data, resumed, resume=True))
    a, b = load_file(str(straight / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    log = [json.loads(line) for line in (resumed / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2] and all("images_per_s" in r and "train_loss" in r for r in log)
    assert all(r["device"] == "cpu" and r["machine"] == machine_class() for r in log)
    assert all(r["cpu_s"] > 0 and r["threads"] >= 1 for r in log), "the CPU time each epoch took"
    parts = json.loads((resumed / "model.json").read_text())["metrics"]["parts"]
    # epoch 1's machine was stripped above, as older code logged it: a part of its own, "not logged"
    assert [(p["epochs"], p["machine"]) for p in parts] == [([1, 1], None), ([2, 2], machine_class())]
    assert all(p["cpu_measured"] for p in parts)


@pytest.mark.slow
def test_ema_weights_are_evaluated_exported_and_resumed_exactly(tiny_data, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    metrics = train(_cfg(tiny_data, straight, ema=0.99))
    train(_cfg(tiny_data, resumed, ema=0.99, stop_after_epochs=1))
    train(_cfg(tiny_data, resumed, ema=0.99, resume=True))
    ckpt = torch.load(straight / "last.pt", weights_only=False)
    exported = load_file(str(straight / "model.safetensors"))
    assert all(torch.equal(exported[k], v.half()) for k, v in ckpt["ema"].items()), "the average is what ships"
    assert any(not torch.equal(ckpt["ema"][k], ckpt["model"][k]) for k in ckpt["ema"])
    assert load_file(str(resumed / "model.safetensors")).keys() == exported.keys()
    assert all(torch.equal(load_file(str(resumed / "model.safetensors"))[k], v) for k, v in exported.items())
    student = vs.create_model("deit-tiny-cifar10", pretrained=False)
    student.load_state_dict(ckpt["ema"])
    assert metrics["test_top1"] == evaluate_tensors(student, load_split(tiny_data, "test").subset(32, seed=0),
                                                    bf16=ckpt["config"]["bf16"]), "the log scores the average"


def test_hard_distillation_trains_the_deit_student(tiny_data, tmp_path):
    teacher = vs.create_model("resnet9-cifar10", pretrained=False)
    from safetensors.torch import save_file
    save_file(teacher.state_dict(), str(tmp_path / "teacher.safetensors"))
    metrics = train(_cfg(tiny_data, tmp_path / "deit", epochs=1, distillation="hard",
                         teacher=str(tmp_path / "teacher.safetensors")))
    meta = json.loads((tmp_path / "deit" / "model.json").read_text())
    assert meta["train_config"]["distillation"] == "hard" and meta["metrics"] == metrics and metrics["complete"]
    assert [p["distillation"] for p in metrics["parts"]] == ["hard"], "each epoch logs its distillation"
    assert 0 <= metrics["test_top1"] <= 1


@pytest.mark.parametrize("model, kw", [
    ("deit-tiny-cifar10", dict(distillation="soft", tau=3.0, kd_reduction="batchmean", teacher_view="clean")),
    ("vit-tiny-cifar10", {})])
def test_each_epoch_logs_how_far_the_student_imitates_its_teacher(tiny_data, tmp_path, model, kw):
    """The diagnosis: the distillation head's agreement with the teacher (a ViT's one head: the reference)."""
    teacher = vs.create_model("resnet9-cifar10", pretrained=True)
    metrics = train(_cfg(tiny_data, tmp_path / "run", model=model, epochs=1,
                         teacher=str(vs.get_spec("resnet9-cifar10").weights_file), **kw))
    record = json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[-1])
    assert 0 <= record["teacher_agree"] <= 1 and record["teacher_kl"] > 0 and 0 <= record["cls_teacher_agree"] <= 1
    if model.startswith("vit"):
        assert record["teacher_agree"] == record["cls_teacher_agree"] and record["distillation"] == "none"
    else:
        assert record["distillation"] == "soft, tau 3, KL per image, teacher sees the clean image"
    # the figure by hand: the student's answers against the teacher's on the same 32 test images
    test = load_split(tiny_data, "test").subset(32, seed=0)
    student = vs.create_model(model, pretrained=False)
    ckpt = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    student.load_state_dict(ckpt["model"])
    x = (test.images.float() / 255 - torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)) / torch.tensor(
        CIFAR10_STD).view(1, 3, 1, 1)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=ckpt["config"]["bf16"]):
        said, taught = student.eval()(x).argmax(1), teacher.eval()(x).argmax(1)
    agree = (said == taught).float().mean().item()
    wrong = taught != test.labels  # the teacher's mistakes: does the student give the same wrong answer?
    shared = (said[wrong] == taught[wrong]).float().mean().item() if wrong.any() else 0.0
    if model.startswith("vit"):
        assert record["teacher_agree"] == pytest.approx(agree, abs=1 / 32 + 1e-6)
        assert record["teacher_mistakes_shared"] == pytest.approx(shared, abs=1 / max(int(wrong.sum()), 1) + 1e-6)
    assert 0 <= record["teacher_mistakes_shared"] <= 1
    assert metrics["test_images"] == 32


@pytest.mark.slow
def test_a_run_in_parts_switches_distillation_where_it_stops(tiny_data, tmp_path):
    teacher = vs.create_model("resnet9-cifar10", pretrained=False)
    from safetensors.torch import save_file
    save_file(teacher.state_dict(), str(tmp_path / "teacher.safetensors"))
    run = functools.partial(_cfg, tiny_data, tmp_path / "deit", epochs=3, teacher=str(tmp_path / "teacher.safetensors"),
                            resume=True)
    hard, soft = {"distillation": "hard", "stop_at_epoch": 2}, {"distillation": "soft", "tau": 3.0}
    train(run(**hard))
    train(run(**soft))
    train(run(**hard))  # run again (the script, restarted): the first part is done, so nothing trains
    log = [json.loads(line) for line in (tmp_path / "deit" / "log.jsonl").read_text().splitlines()]
    assert [(r["epoch"], r["distillation"]) for r in log] == [(1, "hard"), (2, "hard"), (3, "soft, tau 3")]


def test_a_plain_patch_student_trains_but_does_not_replace_the_embedded_one(tiny_data, tmp_path):
    metrics = train(_cfg(tiny_data, tmp_path / "patch", epochs=1, stem="patch"))
    assert metrics["complete"]
    state = load_file(str(tmp_path / "patch" / "model.safetensors"))
    assert state["patch_embed.proj.weight"].shape == (192, 3, 4, 4), "one linear map of each 4x4 patch"
    with pytest.raises(ConfigError, match="--stem patch student"):
        install(tmp_path / "patch", tiny_data, tmp_path / "weights")
    assert not (tmp_path / "weights").exists()
    with pytest.raises(ConfigError, match="--stem wide"):
        train(_cfg(tiny_data, tmp_path / "wide", epochs=1, stem="wide"))


@pytest.mark.slow
def test_a_run_goes_on_from_installed_weights_and_their_history(tiny_data, tmp_path):
    """--init-from: the interim weights a lost machine leaves behind start a new schedule, the log numbering on."""
    train(_cfg(tiny_data, tmp_path / "first", epochs=1))
    weights = install(tmp_path / "first", dest=tmp_path / "installed")
    still = _cfg(tiny_data, tmp_path / "still", epochs=1, lr=0.0, min_lr=0.0, init_from=str(weights))
    metrics = train(still)  # no step moves the weights: what it saves is what it started from
    start, end = load_file(str(weights)), load_file(str(tmp_path / "still" / "model.safetensors"))
    learned = [k for k in start if "running_" not in k and "num_batches" not in k]  # BatchNorm's statistics move
    assert start.keys() == end.keys() and all(torch.equal(start[k], end[k]) for k in learned)
    meta = json.loads((tmp_path / "still" / "model.json").read_text())
    assert [h["epoch"] for h in meta["history"]] == [1, 2] and meta["metrics"] == metrics
    assert metrics["epochs_done"] == metrics["epochs"] == 2 and metrics["complete"]
    assert meta["train_config"]["init_from"] == str(weights)
    log = [json.loads(line) for line in (tmp_path / "still" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [2], "the log holds this run's epochs, numbered after the earlier ones"
    teacher = str(vs.get_spec("resnet9-cifar10").weights_file)
    with pytest.raises(ConfigError, match="not a .* of this run's architecture"):
        train(_cfg(tiny_data, tmp_path / "wrong", epochs=1, init_from=teacher))
    with pytest.raises(ConfigError, match="--init-from .*missing.safetensors: cannot read"):
        train(_cfg(tiny_data, tmp_path / "missing", epochs=1, init_from=str(tmp_path / "missing.safetensors")))


@pytest.mark.slow
def test_torchrun_two_processes(tiny_data, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m",
           "vitspace.train", "--model", "vit-tiny-cifar10", "--data", str(tiny_data), "--out", str(out),
           "--epochs", "1", "--batch-size", "32", "--limit-train", "64", "--limit-test", "32", "--threads", "1",
           "--device", "cpu"]  # gloo, also where there is a GPU
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert r.returncode == 0, r.stderr[-3000:]
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert len(log) == 1  # one rank logs
    assert (out / "model.safetensors").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", EMBEDDED)
def test_committed_weights_match_their_reported_accuracy(name):
    spec = vs.get_spec(name)
    if not spec.weights_file.exists():
        pytest.fail(f"{spec.weights_file.name} is not committed")
    meta = json.loads(spec.weights_file.with_suffix(".json").read_text())
    # the accuracy `python -m vitspace.classify.evaluate` measured on the test folder when the weights were installed
    reported = meta["evaluate"]
    assert reported["model"] == name and reported["n"] >= 8000
    result = evaluate(vs.get_classifier(name), str(CIFAR_FIXTURE), batch_size=250, progress=False)
    assert result.n == 1000
    # the fixture is 1000 of those test images: one standard error is at most 1.6 points
    assert result.top1 == pytest.approx(reported["top1"], abs=0.05)


PAUSED_RUN = """
import json, sys, time
from vitspace.train.clock import PauseClock
clock = PauseClock()
start, wall = clock(), time.perf_counter()
print("ready", flush=True)
sys.stdin.readline()  # the test pauses and resumes this process, then writes a line
print(json.dumps({"paused": clock.paused, "wall": time.perf_counter() - wall, "clock": clock() - start}))
"""


@pytest.mark.skipif(not hasattr(signal, "SIGTSTP"), reason="POSIX job control")
@pytest.mark.slow
def test_pause_clock_leaves_out_time_stopped_with_sigtstp():
    # a process of its own, as a training run: signals to this one could land on another library's threads
    proc = subprocess.Popen([sys.executable, "-c", PAUSED_RUN], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, cwd=ROOT)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTSTP)  # as `kill -TSTP PID` from a shell
    time.sleep(1)
    proc.send_signal(signal.SIGCONT)
    out, _ = proc.communicate("go\n", timeout=60)
    result = json.loads(out)
    assert 0.9 <= result["paused"] <= 10
    assert result["wall"] - result["clock"] == pytest.approx(result["paused"], abs=0.01)


SAPPHIRE_RAPIDS = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8 avx_vnni

processor\t: 1
model name\t: a second processor is ignored
"""


def test_cpuinfo_parses_the_flags_that_decide_precision():
    assert parse_cpuinfo(SAPPHIRE_RAPIDS) == ("GenuineIntel", "Intel(R) Xeon(R) Platinum 8480+",
                                              ("avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16",
                                               "amx_tile"))
    assert parse_cpuinfo("vendor_id : AuthenticAMD\nflags : avx avx2 fma\n") == ("AuthenticAMD", "", ())
    assert parse_cpuinfo("") == ("", "", ())


@pytest.mark.parametrize("capability, flags, native", [
    ("AVX512", ("avx512_vnni", "avx512_bf16"), True),    # Zen 4, Cooper Lake
    ("AVX512", ("amx_int8", "amx_bf16", "amx_tile"), True),
    ("AVX512", ("avx512_vnni",), False),                # Cascade Lake: VNNI for int8 only
    ("AVX2", ("avx512_bf16", "amx_bf16"), False),       # ATen held to AVX2 (ATEN_CPU_CAPABILITY=avx2)
    ("DEFAULT", (), False),
])
def test_native_bf16_needs_the_instructions_and_aten_using_them(capability, flags, native):
    assert native_bf16(CpuInfo("x86_64", "", "x", capability, flags)) is native


def test_machine_class_names_the_cpu_and_its_precision_flags():
    label = machine_class("cpu")
    assert torch.backends.cpu.get_cpu_capability() in label and label == machine_class()


@pytest.mark.slow
def test_an_avx2_cpu_trains_in_fp32():
    code = ("import torch; from vitspace.util.cpuinfo import native_bf16; from vitspace.train.setup import use_bf16; "
            "print(native_bf16(), use_bf16('auto', torch.device('cpu')), use_bf16(True, torch.device('cpu')))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, ATEN_CPU_CAPABILITY="avx2", OMP_NUM_THREADS="1"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["False", "False", "True"]  # --bf16 still forces it


def test_bf16_flag_is_auto_unless_given():
    assert _parse([]).bf16 == "auto" and _parse(["--bf16"]).bf16 is True and _parse(["--no-bf16"]).bf16 is False
    cfg = _parse(["--device", "cuda:1", "--compile"])
    assert cfg.device == "cuda:1" and cfg.compile is True


def test_flags_take_their_type_from_the_config_and_their_help_from_its_fields(capsys):
    cfg = _parse(["--stop-after-epochs", "2", "--stop-at-epoch", "5", "--threads", "3", "--lr", "0.5", "--data", "d"])
    assert (cfg.stop_after_epochs, cfg.stop_at_epoch, cfg.threads, cfg.lr, cfg.data) == (2, 5, 3, 0.5, "d")
    assert _parse([]) == TrainConfig()
    with pytest.raises(SystemExit):
        _parse(["--distillation", "medium"])  # a choice the field lists
    with pytest.raises(SystemExit):
        _parse(["--help"])
    shown = "".join(capsys.readouterr().out.split())  # argparse wraps the help, also at hyphens
    for f in dataclasses.fields(TrainConfig):
        assert f"--{f.name.replace('_', '-')}" in shown and "".join(f.metadata["help"].split()) in shown, f.name


def test_old_checkpoints_configs_load_under_the_new_names():
    old = {**dataclasses.asdict(TrainConfig()), "stop_after": 3, "stop_at": 7}
    del old["stop_after_epochs"], old["stop_at_epoch"]
    cfg = TrainConfig.from_dict(old)
    assert (cfg.stop_after_epochs, cfg.stop_at_epoch) == (3, 7)
    assert set(RENAMED.values()) <= {f.name for f in dataclasses.fields(TrainConfig)}


def test_compiled_training_saves_plain_keys(tiny_data, tmp_path, monkeypatch):
    # dynamo without inductor: the wrapping is what is tested, and it takes seconds on a CPU
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    train(_cfg(tiny_data, tmp_path / "run", epochs=1, compile=True))
    ckpt = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert ckpt["config"]["compile"] and not any("_orig_mod" in k for k in ckpt["model"])
    weights = load_file(str(tmp_path / "run" / "model.safetensors"))
    vs.create_model("deit-tiny-cifar10", pretrained=False).load_state_dict(weights)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_gpu_run_resumes_on_the_cpu(tiny_data, tmp_path):
    out = tmp_path / "run"
    train(_cfg(tiny_data, out, device="cuda", compile=True, stop_after_epochs=1))
    ckpt = torch.load(out / "last.pt", weights_only=False)
    assert all(v.device.type == "cpu" for v in ckpt["model"].values()) and ckpt["config"]["bf16"] is True
    assert not any("_orig_mod" in k for k in ckpt["model"]) and ckpt["history"][0]["machine"].startswith("CUDA")
    metrics = train(_cfg(tiny_data, out, device="cpu", resume=True))
    assert metrics["complete"] and len(metrics["machines"]) == 2


def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.slow
def test_gpu_script_runs_tiny_on_the_cpu_and_leaves_the_weights_alone(tiny_data, tmp_path):
    before = _hashes(ROOT / "vitspace" / "models" / "weights")
    runs, copied = tmp_path / "runs", tmp_path / "copied"
    env = dict(os.environ, TINY="1", PYTHON=sys.executable, OMP_NUM_THREADS="1", COPY_TO=str(copied),
               VITSPACE_CACHE=str(tmp_path / "cache"))
    r = subprocess.run(["bash", "scripts/train_embedded_gpu.sh", str(tiny_data), str(runs)], cwd=ROOT,
                       capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert _hashes(ROOT / "vitspace" / "models" / "weights") == before
    for run, name in [("teacher", "resnet9-cifar10"), ("deit", "deit-tiny-cifar10"), ("vit", "vit-tiny-cifar10")]:
        assert (runs / run / "model.safetensors").exists()
        meta = json.loads((runs / run / "model.json").read_text())
        assert meta["model"] == name and meta["metrics"]["complete"]
        assert all(h["machine"] and h["device"] in ("cpu", "cuda:0") and h["images_per_s"] > 0 for h in meta["history"])
        installed = json.loads((runs / "installed" / f"{name}.json").read_text())
        assert installed["evaluate"]["n"] == 100 and installed["evaluate"]["machine"] == machine_class()
        assert installed["metrics"]["machines"] == [meta["history"][0]["machine"]]
        assert (copied / f"{name}.safetensors").exists() and (copied / f"{name}.json").exists()
    deit_config = json.loads((runs / "deit" / "model.json").read_text())["train_config"]
    assert (deit_config["distillation"], deit_config["tau"], deit_config["kd_reduction"]) == ("soft", 3.0, "batchmean")
    assert (copied / "training-curves.png").read_bytes() == (runs / "installed" / "training-curves.png").read_bytes()


def _parse(argv):
    return parse_config("train", None, TrainConfig, argv)
