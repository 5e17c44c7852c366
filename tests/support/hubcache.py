"""A Hugging Face cache in the real layout, holding the Hub models vitspace names, with random weights.

`models--<org>--<name>/{blobs,snapshots/<commit>,refs/main}` as huggingface_hub writes it: each file a
blob named by its hash, linked from the snapshot. Architectures and labels are the real repositories'
(registry configs, ImageNet-1k's 1,000 labels); the image processors are the repositories' own files.
"""
import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import torch

from vitspace.models.registry import get_spec

from . import FIXTURES

HUB_FIXTURES = FIXTURES / "hub"
PROCESSORS = {"vit": HUB_FIXTURES / "vit-base" / "preprocessor_config.json",
              "deit": HUB_FIXTURES / "deit-base" / "preprocessor_config.json"}
COMMIT = "0" * 39 + "1"


def _add_repo(cache: Path, repo_id: str, files: Path) -> None:
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    for f in files.iterdir():
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        shutil.move(f, repo / "blobs" / digest)
        (snapshot / f.name).symlink_to(Path("..", "..", "blobs", digest))
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(COMMIT)


def build_hub_cache(cache: Path, names=("vit-base", "deit-base", "deit-tiny")) -> Path:
    torch.manual_seed(0)
    for name in names:
        spec = get_spec(name)
        model = spec.build().hf  # the transformers model inside vitspace's logits wrapper
        with tempfile.TemporaryDirectory() as tmp:
            model.save_pretrained(tmp)
            shutil.copy(PROCESSORS[spec.family], Path(tmp) / "preprocessor_config.json")
            config = json.loads((Path(tmp) / "config.json").read_text())
            assert len(config["id2label"]) == 1000
            _add_repo(cache, spec.repo_id, Path(tmp))
    return cache


# --- users' own models: the kinds issue 22 names, small (2 blocks) so that every tab runs on them in seconds ---

PETS = {0: "abyssinian", 1: "beagle", 2: "persian"}
FLOWERS = {0: "daisy", 1: "dandelion", 2: "rose", 3: "sunflower", 4: "tulip"}
BEANS = ["angular_leaf_spot", "bean_rust", "healthy"]
SMALL = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128)


def _transformers_vit_384(folder: Path) -> None:
    import transformers as tf
    cfg = tf.ViTConfig(image_size=384, patch_size=16, id2label=PETS, label2id={v: k for k, v in PETS.items()}, **SMALL)
    tf.ViTForImageClassification(cfg).save_pretrained(folder)
    tf.ViTImageProcessor(size={"height": 384, "width": 384}).save_pretrained(folder)
    (folder / "README.md").write_text("---\nlicense: mit\nbase_model: google/vit-base-patch16-224-in21k\n---\n"
                                      "# vit-pets-384\n")


def _transformers_deit_teacher(folder: Path) -> None:
    import transformers as tf
    cfg = tf.DeiTConfig(image_size=224, patch_size=16, id2label=FLOWERS, label2id={v: k for k, v in FLOWERS.items()},
                        **SMALL)
    tf.DeiTForImageClassificationWithTeacher(cfg).save_pretrained(folder)
    tf.DeiTImageProcessor().save_pretrained(folder)


def _timm(arch: str, label_names=None, **model_args):
    def save(folder: Path) -> None:
        import timm
        from timm.models import save_for_hf
        model = timm.create_model(arch, pretrained=False, **model_args)
        save_for_hf(model, str(folder), model_config={"label_names": label_names} if label_names else None,
                    model_args=model_args, safe_serialization=True)
    return save


def _bert(folder: Path) -> None:
    import transformers as tf
    tf.BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
                  ).save_pretrained(folder)


def _resnet(folder: Path) -> None:
    import transformers as tf
    tf.ResNetForImageClassification(tf.ResNetConfig(embedding_size=8, hidden_sizes=[8, 8, 8, 8], depths=[1, 1, 1, 1])
                                    ).save_pretrained(folder)


def _config_only(folder: Path) -> None:
    import transformers as tf
    cfg = tf.ViTConfig(id2label=PETS, label2id={v: k for k, v in PETS.items()}, **SMALL)
    cfg.architectures = ["ViTForImageClassification"]
    cfg.save_pretrained(folder)


USER_MODELS = {  # Hub id -> what it holds
    "someone/vit-pets-384": _transformers_vit_384,
    "someone/deit-flowers-teacher": _transformers_deit_teacher,
    "timm/deit_tiny_distilled_patch16_224.fb_in1k": _timm("deit_tiny_distilled_patch16_224", depth=2),
    "someone/vit-small-patch32-beans": _timm("vit_small_patch32_224", BEANS, depth=2, num_classes=3),
}
REFUSED = {  # Hub id -> what it holds: each must be refused with a sentence
    "someone/bert-sentiment": _bert,
    "someone/resnet-flowers": _resnet,
    "someone/vit-no-weights": _config_only,
}


def save_user_model(hub_id: str, folder: Path) -> Path:
    """One of USER_MODELS or REFUSED, saved to a folder as its library saves it; random weights from seed 0."""
    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    {**USER_MODELS, **REFUSED}[hub_id](folder)
    return folder


def build_user_cache(cache: Path, ids=tuple(USER_MODELS) + tuple(REFUSED)) -> Path:
    """A Hugging Face cache holding users' models (USER_MODELS, and the REFUSED ones), in the real layout."""
    for hub_id in ids:
        if (cache / f"models--{hub_id.replace('/', '--')}").exists():
            continue  # built already (a cache is built once and shared)
        with tempfile.TemporaryDirectory() as tmp:
            _add_repo(cache, hub_id, save_user_model(hub_id, Path(tmp) / "model"))
    return cache
