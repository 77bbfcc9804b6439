"""clf_export: turn a trained Hugging Face classifier into a checked clf runtime artifact.

Export (Optimum) -> graph optimization (ONNX Runtime fusions) -> quantization -> validation gate
against the PyTorch model -> artifact written atomically in the format `clf_runtime` defines.
"""

from __future__ import annotations

from clf_export.errors import ExportError, GateError
from clf_export.pipeline import ExportConfig, ExportResult, export

__all__ = ["ExportConfig", "ExportError", "ExportResult", "GateError", "export"]
