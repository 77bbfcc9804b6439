"""ONNX export: the trained PyTorch model traced to an ONNX graph by Optimum's exporter."""

from __future__ import annotations

from pathlib import Path

from clf_export import quiet
from clf_export.errors import ExportError
from clf_export.source import SourceModel

#: The file Optimum's exporter writes into its output folder (and its optimizer reads from there).
GRAPH_NAME = "model.onnx"


def export_onnx(src: SourceModel, dest: Path, opset: int | None) -> Path:
    """Export `src` for text classification into folder `dest`; returns the graph's path."""
    from optimum.exporters.onnx import main_export

    with quiet.exporter():
        try:
            main_export(
                str(src.path),
                dest,
                task="text-classification",
                opset=opset,
                do_validation=False,
                device="cpu",
                local_files_only=True,
            )
        except OSError:
            raise  # disk full, permissions: the output folder's own message says what to do
        except Exception as exc:
            raise ExportError(f"Optimum could not export {src.path}: {type(exc).__name__}: {exc}") from exc
    return dest / GRAPH_NAME


def graph_inputs(path: Path) -> tuple[str, ...]:
    """The graph's input names (what the manifest lists and the runtime feeds), weights left out."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    weights = {init.name for init in graph.initializer}
    return tuple(i.name for i in graph.input if i.name not in weights)
