"""vitspace.train.airbench: the whitening init, airbench's schedule, a tiny run that resumes exactly (also from a
checkpoint of the first airbench code), the install into the registry's network, the command line. Small widths and
a few images: seconds."""
import json

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from support import one_torch_thread

import vitspace as vs
from vitspace.errors import ConfigError
from vitspace.models.airbench import AirbenchCifar
from vitspace.train.airbench import AirbenchConfig, init_whitening, install, lr_factor, main, train_airbench
from vitspace.util.cli import parse_config
from vitspace.util.cpuinfo import machine_class

one_thread = pytest.fixture(autouse=True)(one_torch_thread)


def _cfg(data, out, **kw) -> AirbenchConfig:
    return AirbenchConfig(**{"data": str(data), "out": str(out), "epochs": 2.5, "batch_size": 32, "limit_train": 96,
                             "limit_test": 24, "widths": "8,16,16", "whiten_bias_epochs": 1, "threads": 1, **kw})


def test_whitening_init_whitens_the_patches():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, 12, 12, generator=gen)
    x = x + 0.6 * x.roll(1, dims=2) + 0.3 * x.roll(1, dims=3)           # neighbouring pixels correlate
    x = torch.einsum("ij,bjhw->bihw", torch.tensor([[1.0, 0.5, 0.2], [0.4, 1.0, 0.3], [0.1, 0.6, 1.0]]), x)
    conv = AirbenchCifar().whiten
    init_whitening(conv, x)
    out = F.conv2d(x, conv.weight).permute(0, 2, 3, 1).reshape(-1, 24)
    cov = out[:, :12].T @ out[:, :12] / len(out)
    assert cov.diagonal().min() > 0.99 and torch.allclose(cov, torch.eye(12), atol=0.01)
    assert torch.equal(conv.weight[12:], -conv.weight[:12])  # each eigenvector and its negative
    assert not conv.weight.requires_grad and conv.bias.requires_grad


def test_schedule():
    assert lr_factor(0, 100) == pytest.approx(0.2) and lr_factor(23, 100) == 1 and lr_factor(100, 100) == 0.07


@pytest.mark.slow
def test_tiny_run_logs_checkpoints_exports_and_resumes_exactly(tiny_data, tmp_path):
    straight = tmp_path / "straight"
    metrics = train_airbench(_cfg(tiny_data, straight))
    # 96 images in batches of 32: 3 steps an epoch, 2.5 epochs: 8 steps, the third epoch ends after 2
    assert metrics["steps"] == metrics["total_steps"] == 8 and metrics["complete"] and metrics["epochs_done"] == 3
    for name in ("last.pt", "log.jsonl", "model.safetensors", "model.json"):
        assert (straight / name).is_file(), name
    resumed = tmp_path / "resumed"
    train_airbench(_cfg(tiny_data, resumed, stop_after_epochs=1))  # a run stopped after epoch 1
    assert not (resumed / "model.safetensors").exists()
    ckpt = torch.load(resumed / "last.pt", weights_only=False)
    assert set(ckpt) == {"model", "opt", "lookahead", "epoch", "step", "total_steps", "history", "config",
                         "test_images"}, "the checkpoint of the first airbench code"
    ckpt["config"]["stop_after"] = ckpt["config"].pop("stop_after_epochs")  # as the first code named it
    torch.save(ckpt, resumed / "last.pt")
    train_airbench(_cfg(tiny_data, resumed, resume=True))
    a, b = load_file(str(straight / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert all(v.dtype == torch.float16 for k, v in a.items() if "num_batches" not in k)
    log = [json.loads(line) for line in (resumed / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3] and [r["step"] for r in log] == [3, 6, 8]
    assert all(r["machine"] == machine_class() and r["threads"] == 1 and r["cpu_s"] >= 0 and r["images_per_s"] > 0
               and 0 <= r["test_acc"] <= 1 and "train_loss" in r for r in log)
    assert "test_acc_tta" in log[-1] and "test_acc_tta" not in log[0]
    meta = json.loads((resumed / "model.json").read_text())
    assert meta["model"] == "airbench-cifar10" and meta["dtype"] == "float16" and len(meta["labels"]) == 10
    assert meta["metrics"]["test_top1"] == log[-1]["test_acc_tta"] and meta["train_config"]["widths"] == "8,16,16"
    assert [p["epochs"] for p in meta["metrics"]["parts"]] == [[1, 3]]
    with pytest.raises(ConfigError, match="64,256,256"):
        install(resumed, dest=tmp_path / "weights")  # the registry's network is airbench94's width


@pytest.mark.slow
def test_install_puts_weights_the_registry_loads(tiny_data, tmp_path, capsys):
    run = tmp_path / "run"
    train_airbench(_cfg(tiny_data, run, widths="64,256,256", epochs=1, limit_train=32, limit_test=8))
    weights = tmp_path / "weights"
    capsys.readouterr()
    assert main(["--out", str(run), "--data", str(tiny_data), "--install", "--install-dir", str(weights),
                 "--limit-test", "8"]) == 0  # evaluated with vitspace.classify.accuracy
    path = weights / "airbench-cifar10.safetensors"
    assert capsys.readouterr().out.splitlines()[0] == str(path)
    model = vs.get_spec("airbench-cifar10").build()
    model.load_state_dict(load_file(str(path)))
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["evaluate"]["n"] == 8 and meta["evaluate"]["model"] == "airbench-cifar10"
    trained = torch.load(run / "last.pt", weights_only=False)["model"]
    assert torch.allclose(model.whiten.weight, trained["whiten.weight"], rtol=1e-3, atol=1e-3)


def test_command_line():
    cfg = _parse_airbench(["--data", "D", "--out", "O", "--epochs", "12", "--threads", "2", "--resume",
                  "--limit-train", "500", "--no-channels-last", "--stop-after", "1"])  # the first code's flag
    assert (cfg.data, cfg.out, cfg.epochs, cfg.threads, cfg.resume, cfg.limit_train) == ("D", "O", 12.0, 2, True, 500)
    assert cfg.channels_last is False and cfg.batch_size == 1024 and cfg.conv_widths == (64, 256, 256)
    assert cfg.stop_after_epochs == 1
    with pytest.raises(ConfigError, match="three comma-separated"):
        _parse_airbench(["--widths", "8,16"]).conv_widths


def _parse_airbench(argv):
    return parse_config("train.airbench", None, AirbenchConfig, argv)
