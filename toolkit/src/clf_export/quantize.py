"""Quantization of an optimized ONNX graph: int8 (dynamic, per-row, static) and fp16.

int8 comes in three kinds, all with weights quantized ahead of time:

- "static" (`--quantize int8`, the default, or `int8-static`): the dynamic graph below with each
  activation's scale fixed at export from calibration texts (clf_export.static_scales). A text's
  scores do not depend on its batch, and it runs the same int8 kernels as dynamic (measured within
  a few percent of dynamic's batch-1 latency and throughput; see README).

- "per-row" (`--quantize int8-per-row`): each token row of each activation gets its own int8 scale
  (symmetric, computed at run time from that row alone). A text's scores therefore do not depend
  on the other texts in its batch or on padding, unlike ONNX Runtime's dynamic quantization,
  which uses one scale for the whole batch tensor. The query/key/value projections are kept as
  separate MatMuls (MultiHeadAttention fusion instead of the packed Attention op) so that they are
  quantized the same way; ONNX Runtime's fused QAttention only takes one scale per tensor.
- "dynamic" (`--quantize int8-dynamic`): onnxruntime's `quantize_dynamic`, one activation scale
  per batch tensor computed at run time, so a text's scores move a little with its batch-mates.

Why not `ORTQuantizer.quantize` on the fused graph: on an O2-fused graph it fails with
"Unable to find data type for weight_name=..." (the fused nodes' outputs have no type info).
onnxruntime's `quantize_dynamic` with DefaultTensorType=FLOAT handles it; the weight encoding it
applies is the --target's (clf_export.targets: portable, 7-bit weights, by default).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from clf_export import quiet, static_scales
from clf_export.errors import ExportError
from clf_export.targets import OP_TYPES, resolve_target


def quantization_settings(target: str, per_channel: bool) -> dict[str, Any]:
    """The weight encoding of `target` (clf_export.targets) as the manifest records it: typed
    values, which the runtime reads to tell whether a CPU computes the model exactly."""
    chosen = resolve_target(target)
    return {
        "target": chosen.name,
        "weight_type": chosen.arithmetic.weight_type,
        "activation_type": chosen.arithmetic.activation_type,
        "per_channel": per_channel,
        "reduce_range": chosen.arithmetic.reduce_range,
        "op_types": list(OP_TYPES),
    }


INT8_MODES = ("static", "per-row", "dynamic")


def weight_nodes(model_path: Path) -> list[str]:
    """Nodes int8 can quantize: MatMuls and fused Attentions with a constant weight, and Gathers
    from a constant table."""
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    constants = {init.name for init in graph.initializer}
    weight_input = {"MatMul": 1, "Gather": 0, "Attention": 1}
    return [
        n.name
        for n in graph.node
        if n.op_type in weight_input and n.input[weight_input[n.op_type]] in constants
    ]


def quantize_int8(
    src: Path,
    dest: Path,
    target: str,
    per_channel: bool,
    mode: str = "dynamic",
    exclude: Iterable[str] = (),
    feeds: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """int8 weights ahead of time; activations with scales fixed at export ("static"), per token
    row ("per-row") or per batch ("dynamic").

    exclude: node names to leave in fp32 (the fallback search's mixed precision).
    feeds: "static" only: padded model-input batches to measure activation ranges on.
    """
    if mode not in INT8_MODES:
        raise ExportError(f"unknown int8 mode {mode!r}; choose one of {', '.join(INT8_MODES)}")
    settings = quantization_settings(target, per_channel)
    excluded = sorted(set(exclude))
    extra: dict[str, Any] = {}
    if mode == "static":  # the dynamic graph first, then its scales fixed
        dynamic = dest.with_suffix(".dynamic.onnx")
        _quantize_dynamic(src, dynamic, settings, excluded)
        static_scales.fix_scales(dynamic, dest, static_scales.activation_ranges(dynamic, feeds))
        dynamic.unlink()
        extra["calibration_samples"] = sum(len(next(iter(feed.values()))) for feed in feeds)
    elif mode == "per-row":
        # Only weight MatMuls (and embedding tables): the per-row rewrite is valid where the
        # quantized activation is the MatMul's left input, one scale per row of it.
        only = [n for n in weight_nodes(src) if n not in excluded]
        _quantize_dynamic(src, dest, settings, excluded, ["MatMul", "Gather"], only)
    else:
        _quantize_dynamic(src, dest, settings, excluded)
    batch_independent = _per_row(dest) if mode == "per-row" else mode == "static"
    return {
        **settings,
        "mode": mode,
        "batch_independent": batch_independent,
        "fp32_nodes": excluded,
        **extra,
    }


def _quantize_dynamic(
    src: Path,
    dest: Path,
    settings: Mapping[str, Any],
    excluded: list[str],
    op_types: list[str] | None = None,
    only: list[str] | None = None,
) -> None:
    """onnxruntime's quantize_dynamic with the target's weight encoding (`settings`)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with quiet.quantizer():
        quantize_dynamic(
            model_input=src,
            model_output=dest,
            op_types_to_quantize=op_types or settings["op_types"],
            nodes_to_quantize=only,
            nodes_to_exclude=excluded,
            per_channel=settings["per_channel"],
            reduce_range=settings["reduce_range"],
            weight_type=QuantType[settings["weight_type"]],
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )


def _per_row(path: Path) -> bool:
    """Replace each DynamicQuantizeLinear (one scale per tensor) by per-row symmetric quantization.

    For a row x: scale = max|x| / 127 and q = round(x / scale) + 128 as uint8, so MatMulInteger's
    scalar zero point (128) still holds and the Mul by the scale that follows it broadcasts one
    scale per row. The rows are quantized by one QuantizeLinear with a per-axis scale on the
    (rows, features) view of x. Returns whether every activation quantization was rewritten.
    """
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    users: dict[str, list[tuple[str, int]]] = {}  # tensor -> (op type, input index) of its readers
    for node in graph.node:
        for i, name in enumerate(node.input):
            users.setdefault(name, []).append((node.op_type, i))
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(127.0, np.float32), "clf_row_127"),
            numpy_helper.from_array(np.array(1e-12, np.float32), "clf_row_eps"),
            numpy_helper.from_array(np.array(128, np.uint8), "clf_row_zero_point"),
            numpy_helper.from_array(np.array([-1], np.int64), "clf_row_axes"),
        ]
    )
    nodes, all_rewritten = [], True
    for node in graph.node:
        quantized = node.output[0] if node.op_type == "DynamicQuantizeLinear" else None
        if quantized is None or any(u != ("MatMulInteger", 0) for u in users.get(quantized, [])):
            all_rewritten &= node.op_type != "DynamicQuantizeLinear"
            nodes.append(node)
            continue
        nodes += _row_quantization(node, f"{node.name or quantized}_row")
    _unfusable_scales(graph, nodes)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save(model, str(path))
    return all_rewritten


def _row_quantization(node: Any, p: str) -> list[Any]:
    """The nodes that replace one DynamicQuantizeLinear `node` (outputs q, scale, zero point) by
    per-row symmetric quantization; `p` prefixes the new tensors' names."""
    from onnx import helper

    x, (q, scale, zero_point) = node.input[0], node.output
    make = helper.make_node
    return [
        make("ReduceMax", [x, "clf_row_axes"], [p + "_max"], keepdims=1),
        make("ReduceMin", [x, "clf_row_axes"], [p + "_min"], keepdims=1),
        make("Neg", [p + "_min"], [p + "_neg_min"]),
        make("Max", [p + "_max", p + "_neg_min", "clf_row_eps"], [p + "_abs_max"]),
        make("Div", [p + "_abs_max", "clf_row_127"], [scale]),
        # (rows, features) view: QuantizeLinear takes a per-axis scale along axis 0.
        make("Shape", [x], [p + "_shape"]),
        make("Shape", [x], [p + "_features"], start=-1),
        make("Concat", ["clf_row_axes", p + "_features"], [p + "_2d"], axis=0),
        make("Reshape", [x, p + "_2d"], [p + "_x2d"]),
        make("Reshape", [scale, "clf_row_axes"], [p + "_scale1d"]),
        make("Shape", [p + "_scale1d"], [p + "_rows"]),
        make("Expand", ["clf_row_zero_point", p + "_rows"], [p + "_zp1d"]),
        make("QuantizeLinear", [p + "_x2d", p + "_scale1d", p + "_zp1d"], [p + "_q2d"], axis=0),
        make("Reshape", [p + "_q2d", p + "_shape"], [q]),
        make("Identity", ["clf_row_zero_point"], [zero_point]),
    ]


def _unfusable_scales(graph: Any, nodes: list[Any]) -> None:
    """Write each `row scale x weight scale` Mul as a Div by the weight scale's reciprocal.

    ONNX Runtime's MatMulIntegerToFloat fusion (run at session load) matches
    MatMulInteger -> Cast -> Mul(Mul(a_scale, b_scale)) and assumes a_scale is one number: on
    per-row scales it silently computes wrong logits (measured: 73% agreement with fp32 instead of
    95%). A Div there does not match the pattern, and x * w == x / (1 / w) up to rounding.
    """
    import numpy as np
    from onnx import helper, numpy_helper

    weights = {init.name: init for init in graph.initializer}
    row_scales = {n.output[0] for n in nodes if n.op_type == "Div" and n.input[1] == "clf_row_127"}
    for i, node in enumerate(nodes):
        if node.op_type != "Mul" or node.input[0] not in row_scales or node.input[1] not in weights:
            continue
        inverse = f"{node.input[1]}_clf_reciprocal"
        if inverse not in weights:
            w = numpy_helper.to_array(weights[node.input[1]]).astype(np.float32)
            weights[inverse] = numpy_helper.from_array((1.0 / w).astype(np.float32), inverse)
            graph.initializer.append(weights[inverse])
        nodes[i] = helper.make_node("Div", [node.input[0], inverse], list(node.output), name=node.name)
    used = {name for n in nodes for name in n.input}
    unused = [init for init in graph.initializer if init.name not in used]
    for init in unused:  # the weight scales now read through their reciprocals
        graph.initializer.remove(init)


def convert_fp16(src: Path, dest: Path) -> dict[str, Any]:
    """fp16 weights and activations with fp32 inputs/outputs: for CUDA (and CoreML) providers."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(src))
    converted = convert_float_to_float16(model, keep_io_types=True)
    onnx.save(converted, str(dest))
    return {"mode": "fp16", "keep_io_types": True}
