"""clf_export: turn a trained Hugging Face classifier into a checked clf runtime artifact.

Export (Optimum) -> graph optimization (ONNX Runtime fusions) -> quantization -> validation gate
against the PyTorch model -> artifact written atomically in the format `clf_runtime` defines.

The steps, in the order `pipeline.export` runs them: source (the trained folder), validation_data
and int8_texts (input files), onnx_export, optimize, tokenizer, quantize (with targets, and
int8_search / search when int8 fails the gate), gate (against clf_train.reference's PyTorch
logits), measure, manifest (clf.json, written once). config holds every option and choice; quiet
decides which warnings and logs users see.
"""

from __future__ import annotations

from clf_export.errors import ExportError, GateError
from clf_export.pipeline import ExportConfig, ExportResult, export

__all__ = ["ExportConfig", "ExportError", "ExportResult", "GateError", "export"]
