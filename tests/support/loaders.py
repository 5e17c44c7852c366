"""Optimum's ONNX Runtime and OpenVINO image classifiers, as they find, open and run a repository's files.

Neither loader installs here beside transformers 5.24 and openvino 2026, so the snippets run with doubles of their
classes that keep their rules, each cited below:
- optimum-onnx, ORTModelForImageClassification's package, needs transformers<4.58;
- optimum-intel 1.15.0, the last release that installs beside these pins, imports openvino.runtime (gone in
  openvino 2026), transformers.onnx (gone in transformers 5) and optimum.exporters.onnx (now optimum-onnx's), and
  falls back to a dummy OVModelForImageClassification.
Both classes load through optimum's own `OptimizedModel.from_pretrained` (optimum 2.3.0, optimum/modeling_base.py:
308-419: config.json from `subfolder`, else the top level; the library inferred from it, exporters/tasks.py:943; a
timm config read as a PretrainedConfig, anything else by AutoConfig), which the doubles inherit and run as it is.
"""
import json
from pathlib import Path

import numpy as np
import torch
from optimum.modeling_base import OptimizedModel
from optimum.utils.file_utils import find_files_matching_pattern
from transformers.modeling_outputs import ImageClassifierOutput
from transformers.utils import cached_file

__all__ = ["ORTDouble", "OVDouble"]


class ORTDouble(OptimizedModel):
    """optimum-onnx 0.1.0's ORTModelForImageClassification, as it finds, opens and runs a file."""

    @classmethod
    def _from_pretrained(cls, model_id, config, subfolder="", file_name=None, **kwargs):
        import onnxruntime
        # optimum/onnxruntime/modeling.py:368-379: every **/*.onnx under subfolder, relative to a folder
        found = find_files_matching_pattern(model_id, r".*\.onnx$", glob_pattern="**/*.onnx", subfolder=subfolder)
        found = [f.relative_to(model_id) for f in found]
        # :259-338 `_infer_file_path`: file_name by its name, else model.onnx, else the one file there is
        picked = [f for f in found if f.name == (file_name or "model.onnx")] or ([] if file_name else found)
        assert picked, f"no ONNX file {file_name} in {found}"
        # :387-396: `_cached_file`, transformers' cached_file of the file's name in its folder
        path = cached_file(model_id, filename=picked[0].name, subfolder=picked[0].parent.as_posix())
        model = cls(onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"]), config)
        model.path = Path(path)
        return model

    def forward(self, pixel_values, **kwargs):
        # :1316, :1334-1336: feeds "pixel_values", reads the output named "logits"
        names = [o.name for o in self.model.get_outputs()]
        outputs = dict(zip(names, self.model.run(None, {"pixel_values": pixel_values.numpy()})))
        return ImageClassifierOutput(logits=torch.from_numpy(outputs["logits"]))

    def _save_pretrained(self, save_directory):
        raise NotImplementedError


class OVDouble(OptimizedModel):
    """optimum-intel 1.15.0's OVModelForImageClassification, as it finds, opens and runs an IR in a folder."""

    @classmethod
    def from_pretrained(cls, model_id, **kwargs):
        # optimum/intel/openvino/modeling.py:585 and utils.py:114-131 (`_is_timm_ov_dir`): a folder with a
        # config.json, an .xml and a .bin at its top is a timm export, and a config's hf_hub_id is looked up on the Hub
        top = [p.name for p in Path(model_id).iterdir()]
        configs = [json.loads((Path(model_id) / n).read_text()) for n in top if n.endswith("config.json")]
        assert not (any(n.endswith(".xml") for n in top) and any(c.get("hf_hub_id") for c in configs))
        return super().from_pretrained(model_id, **kwargs)  # modeling.py:608: OptimizedModel.from_pretrained

    @classmethod
    def _from_pretrained(cls, model_id, config, subfolder="", file_name=None, **kwargs):
        import openvino
        # optimum/intel/openvino/modeling_base.py:189-190, 218-219: file_name (openvino_model.xml by default),
        # read in a folder at model_id / file_name, subfolder ignored
        path = Path(model_id) / (file_name or "openvino_model.xml")
        model = cls(openvino.Core().read_model(path), config)
        model.path = path
        return model

    def __init__(self, model, config):
        super().__init__(model, config)
        # modeling_base.py:68-72, 357-375 (`_reshape`): every dimension of an image classifier's input made dynamic
        model.reshape({i: [-1, -1, -1, -1] for i in model.inputs})
        # :74-84: inputs and outputs by their names without "/"
        self.input_names = {next(n for n in i.get_names() if "/" not in n): k for k, i in enumerate(model.inputs)}
        import openvino
        self.request = openvino.Core().compile_model(model, "CPU", {"PERFORMANCE_HINT": "LATENCY"})  # :338-351

    def forward(self, pixel_values, **kwargs):
        # modeling.py:642-649: feeds {"pixel_values": ...}, reads outputs["logits"]
        outputs = self.request({"pixel_values": np.array(pixel_values)})
        return ImageClassifierOutput(logits=torch.from_numpy(outputs["logits"].copy()))

    def _save_pretrained(self, save_directory):
        raise NotImplementedError
