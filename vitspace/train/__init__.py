"""Training the embedded CIFAR-10 models (`python -m vitspace.train`, `python -m vitspace.train.airbench` for the
airbench teacher, `python -m vitspace.train.report`).

`config` (TrainConfig), `setup` (device, precision, student, teacher, optimizer), `loop` (`train()`,
`train_one_epoch()`, `validate()`), `losses` (DeiT's distillation loss), `metrics` (top-1, agreement with the
teacher), `checkpoint` (last.pt), `weights` (`save_weights()`, `install()`), `record`
(what a log says) and `airbench` (the airbench-style teacher's own recipe).
"""
