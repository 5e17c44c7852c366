"""TrainConfig: every setting of a training run, each field with its help text (the command's flags)."""
from dataclasses import dataclass, field

__all__ = ["TrainConfig", "RENAMED", "end_epoch"]

# old field names that checkpoints saved before the renaming still hold: old -> new
RENAMED = {"stop_after": "stop_after_epochs", "stop_at": "stop_at_epoch"}


@dataclass
class TrainConfig:
    """Every setting of a run; `python -m vitspace.train` has a flag for each field (--batch-size for batch_size)."""

    model: str = field(default="deit-tiny-cifar10", metadata={"help": "registry name of the architecture to train"})
    data: str | None = field(default=None, metadata={
        "help": "ImageFolder root with train/ and test/; without it, CIFAR-10 is fetched"})
    out: str = field(default="runs/deit", metadata={
        "help": "run folder: last.pt (checkpoint), log.jsonl, model.safetensors and model.json"})
    epochs: int = field(default=30, metadata={"help": "length of the run; the learning-rate schedule spans it"})
    batch_size: int = field(default=256, metadata={"help": "global batch, split across DDP ranks"})
    opt: str = field(default="adamw", metadata={"help": "optimizer: adamw, or sgd (Nesterov momentum 0.9)",
                                                "choices": ("adamw", "sgd")})
    lr: float = field(default=1e-3, metadata={"help": "peak learning rate, reached after the warm-up"})
    min_lr: float = field(default=1e-5, metadata={"help": "learning rate at the end of the cosine decay"})
    weight_decay: float = field(default=0.05, metadata={
        "help": "weight decay, except on norms, biases, tokens and position embeddings"})
    warmup_epochs: float = field(default=3.0, metadata={"help": "epochs of linear learning-rate warm-up"})
    label_smoothing: float = field(default=0.1, metadata={"help": "label smoothing of the class head's loss"})
    distillation: str = field(default="none", metadata={
        "help": "DeiT's distillation from --teacher: none, hard (its argmax) or soft (its distribution at --tau)",
        "choices": ("none", "hard", "soft")})
    alpha: float = field(default=0.5, metadata={
        "help": "weight of the distillation loss; the label loss weighs 1 - alpha"})
    tau: float = field(default=1.0, metadata={"help": "temperature of soft distillation"})
    kd_reduction: str = field(default="deit", metadata={
        "help": "how soft distillation scales its summed KL: deit (by the logits' count, as DeiT's code) or "
                "batchmean (by the batch: KL per image)", "choices": ("deit", "batchmean")})
    teacher_view: str = field(default="same", metadata={
        "help": "what the teacher scores: same (the student's augmented view, consistent) or clean (the "
                "un-augmented image, the inconsistent arm of the study)", "choices": ("same", "clean")})
    teacher: str | None = field(default=None, metadata={
        "help": "safetensors of the teacher (architecture: --teacher-model); also without --distillation, to "
                "log a ViT's agreement with it each epoch"})
    teacher_model: str = field(default="resnet9-cifar10", metadata={"help": "registry name of the teacher"})
    init_from: str | None = field(default=None, metadata={
        "help": "start from these weights (an installed <model>.safetensors, or a run's model.safetensors) instead "
                "of a fresh initialisation: a new schedule of --epochs continues them, and the history in their "
                "JSON comes first in the log, so a run goes on from interim weights after its checkpoint is lost"})
    stem: str = field(default="conv", metadata={
        "help": "student stem: conv (the registry's) or patch (DeiT's plain 4x4 patchify layer, to measure what "
                "the stem does; such runs do not install)", "choices": ("conv", "patch")})
    ema: float = field(default=0.0, metadata={
        "help": "decay of a moving average of the student's weights (timm's, with warm-up; 0: off), evaluated "
                "and saved in the student's place"})
    teacher_tta: bool = field(default=False, metadata={
        "help": "flip test-time augmentation in the teacher: +0.7 point for twice its cost per step"})
    bf16: bool | str = field(default="auto", metadata={
        "help": "bf16 autocast; auto, when neither flag is given: on CUDA, and on CPUs with AVX512-BF16 or AMX"})
    device: str = field(default="auto", metadata={"help": "auto (CUDA when there is a GPU), cpu, cuda or cuda:N"})
    compile: bool = field(default=False, metadata={"help": "torch.compile the student and teacher: worth it on a GPU"})
    seed: int = field(default=0, metadata={"help": "seed of the initialisation, the subsets and each epoch's order"})
    threads: int | None = field(default=None, metadata={"help": "torch's CPU threads (default: torch's choice)"})
    limit_train: int | None = field(default=None, metadata={"help": "train on a random subset of N images"})
    limit_test: int | None = field(default=None, metadata={
        "help": "evaluate on a random subset of N images, --install's evaluation too"})
    eval_every: int = field(default=1, metadata={"help": "evaluate every N epochs, and after the last"})
    resume: bool = field(default=False, metadata={"help": "continue from OUT/last.pt where there is one"})
    export_only: bool = field(default=False, metadata={
        "help": "write OUT/model.safetensors from OUT/last.pt, and stop"})
    install: bool = field(default=False, metadata={
        "help": "save OUT/last.pt's weights into vitspace/models/weights, evaluated on DATA/test"})
    install_dir: str | None = field(default=None, metadata={
        "help": "where --install writes instead of vitspace/models/weights"})
    stop_after_epochs: int | None = field(default=None, metadata={
        "help": "end this invocation after N more epochs; --resume continues"})
    stop_at_epoch: int | None = field(default=None, metadata={
        "help": "end this invocation at epoch N (at once if the run is past it): a run in parts, each with its "
                "own settings (scripts/train_embedded.sh)"})

    @classmethod
    def from_dict(cls, saved: dict) -> "TrainConfig":
        """The config a checkpoint saved (`dataclasses.asdict`), also from before a field was renamed.

        Args:
            saved: a checkpoint's `config`; fields added since it was saved take their defaults.
        """
        return cls(**{RENAMED.get(k, k): v for k, v in saved.items()})


def end_epoch(cfg: TrainConfig, start_epoch: int) -> int:
    """The epoch this invocation ends at: the run's last, or earlier for --stop-after-epochs and --stop-at-epoch."""
    return min(cfg.epochs, start_epoch + (cfg.stop_after_epochs or cfg.epochs), cfg.stop_at_epoch or cfg.epochs)

