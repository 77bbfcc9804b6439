"""Training runs on tiny random models: every task learns, LoRA merges exactly, output is complete."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from clf_runtime.errors import InputError
from clf_train import TrainConfig, train
from clf_train.data import Split, TaskData
from clf_train.metrics import headline
from clf_train.model import add_lora, count_parameters, load_model, merge_lora
from clf_train.objective import loss, loss_weights
from clf_train.sample_data import SUPPORT_MULTILABEL, SUPPORT_PAIRS, SUPPORT_TRAIN


def config(model: Path, out: Path, **kw) -> TrainConfig:
    base = dict(
        model=str(model),
        output=out,
        max_steps=24,
        batch_size=16,
        max_length=48,
        learning_rate=1e-3,
        patience=None,
        progress=False,
        seed=1,
    )
    base.update(kw)
    return TrainConfig(**base)


# Measured with these settings (seed 1, 24 steps; tiny random models learn little that fast):
# bert single-label loss 1.547 -> 1.514 (means of the first and last 4 steps), validation accuracy 0.35
# (chance 0.25); distilbert multi-label 0.933 -> 0.879, tuned micro-F1 0.628; roberta regression
# (MSE on raw scores) 6.53 -> 2.62, Pearson 0.117. The bounds leave room for other torch builds. The
# regression runs on raw targets here: standardized (the default) its loss starts at the variance and
# 24 steps teach it nothing measurable; tests/train/test_recipes.py trains the default for 5 epochs.
LEARNS = [
    ("bert", {"data": SUPPORT_TRAIN}, 0.99, "accuracy", 0.30),
    ("distilbert", {"data": SUPPORT_MULTILABEL}, 0.97, "f1_micro", 0.55),
    (
        "roberta",
        {
            "data": SUPPORT_PAIRS,
            "text_column": "sentence1",
            "text_pair_column": "sentence2",
            "label_column": "score",
            "standardize_targets": False,
        },
        0.6,
        "pearson",
        0.05,
    ),
]


@pytest.mark.parametrize(("arch", "kw", "loss_ratio", "metric", "floor"), LEARNS)
def test_each_task_learns(tiny_models, tmp_path: Path, arch: str, kw, loss_ratio, metric, floor) -> None:
    result = train(config(tiny_models[arch], tmp_path / "out", **kw))
    losses = result.loss_history
    assert losses and len(losses) == 24
    assert np.mean(losses[-4:]) <= loss_ratio * np.mean(losses[:4]), losses
    assert headline(result.metrics)[metric] >= floor, result.metrics
    out = tmp_path / "out"
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "clf_train.json",
        "metrics.json",
        "report.md",
        "training_args.json",
        "validation.jsonl",
    ):
        assert (out / name).is_file(), name
    meta = json.loads((out / "clf_train.json").read_text())
    assert meta["task"] == result.task
    assert meta["text_pair"] == ("text_pair_column" in kw)
    assert not Path(f"{out}.checkpoints").exists()


def test_output_loads_with_transformers_and_predicts(tiny_models, tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    train(config(tiny_models["bert"], tmp_path / "out", data=SUPPORT_TRAIN, max_steps=4))
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "out")
    tok = AutoTokenizer.from_pretrained(tmp_path / "out")
    assert model.config.id2label == {
        0: "general_feedback",
        1: "order_inquiry",
        2: "refund_request",
        3: "technical_problem",
    }
    assert model.config.problem_type == "single_label_classification"
    logits = model(**tok(["where is my refund"], return_tensors="pt")).logits
    assert logits.shape == (1, 4)
    assert (tmp_path / "out" / "confusion_matrix.png").stat().st_size > 1000


def test_multi_label_predicts_several_label_sets(tiny_models, tmp_path: Path) -> None:
    result = train(config(tiny_models["bert"], tmp_path / "out", data=SUPPORT_MULTILABEL, max_steps=60))
    assert result.metrics["tuned"]["distinct_predicted_label_sets"] >= 3  # measured 4 (of 16 possible)
    assert result.thresholds is not None and len(result.thresholds) == 4


def test_lora_trains_fewer_parameters_and_saves_adapter(tiny_models, tmp_path: Path) -> None:
    result = train(config(tiny_models["bert"], tmp_path / "out", data=SUPPORT_TRAIN, method="lora"))
    assert result.trainable_params < result.total_params / 2
    assert (tmp_path / "out" / "adapter" / "adapter_config.json").is_file()
    # The merged model is a plain transformers model: no peft keys in the saved weights.
    from safetensors import safe_open

    with safe_open(tmp_path / "out" / "model.safetensors", "pt") as f:
        assert not any("lora" in k for k in f.keys())  # noqa: SIM118 - safe_open has no __iter__


@pytest.mark.parametrize("arch", ["bert", "distilbert", "roberta"])
def test_merge_preserves_logits(tiny_models, arch: str) -> None:
    model, tok = load_model(str(tiny_models[arch]), "single_label", ("x", "y", "z"))
    peft_model = add_lora(model, r=4, alpha=8, dropout=0.0, targets=None)
    torch.manual_seed(0)
    for name, p in peft_model.named_parameters():
        if "lora_B" in name:  # B starts at zero; make the adapter do something
            p.data.normal_(0, 0.5)
    full, _ = count_parameters(peft_model)
    assert full < sum(p.numel() for p in peft_model.parameters())
    peft_model.eval()
    from clf_train.reference import forward_inputs

    enc = tok(["refund please", "the app crashed twice"], padding=True, return_tensors="pt")
    enc = {k: v for k, v in enc.items() if k in forward_inputs(peft_model)}
    with torch.no_grad():
        before = peft_model(**enc).logits
        merged = merge_lora(peft_model)
        after = merged(**enc).logits
    assert (before - after).abs().max().item() < 1e-4
    assert before.abs().max().item() > 1e-3  # not trivially zero


def test_resume_continues_from_checkpoint(tiny_models, tmp_path: Path, monkeypatch) -> None:
    import clf_train.report

    out = tmp_path / "out"
    cfg = config(tiny_models["bert"], out, data=SUPPORT_TRAIN, max_steps=4)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(clf_train.report, "write_report", crash)  # the last step of writing the output
    with pytest.raises(KeyboardInterrupt):
        train(cfg)
    # Interrupted at the end: no finished-looking folder, checkpoints kept.
    assert not out.exists()
    assert not list(tmp_path.glob(".tmp-*"))
    checkpoints = sorted(Path(f"{out}.checkpoints").glob("checkpoint-*"))
    assert [c.name for c in checkpoints] == ["checkpoint-2", "checkpoint-4"]
    monkeypatch.undo()
    result = train(TrainConfig(**{**cfg.__dict__, "resume": True, "max_steps": 8}))
    assert result.resumed_from == "checkpoint-4"
    assert len(result.loss_history) == 8  # steps 1-4 from the checkpoint's state, 5-8 trained now
    assert (out / "report.md").is_file()


def test_unknown_method_and_model(tiny_models, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="method"):
        train(config(tiny_models["bert"], tmp_path / "o", data=SUPPORT_TRAIN, method="qlora"))
    with pytest.raises(InputError, match="no-model-here does not exist"):
        train(config(tmp_path / "no-model-here", tmp_path / "o", data=SUPPORT_TRAIN))
    with pytest.raises(InputError, match="cannot load model 'no-such-org/no-such-model'"):  # offline in tests
        train(config(Path("no-such-org/no-such-model"), tmp_path / "o", data=SUPPORT_TRAIN))
    assert not (tmp_path / "o").exists()


def tiny_data(task: str, labels: list) -> TaskData:
    split = Split([f"text {i}" for i in range(len(labels))], None, labels)
    names = ("a", "b")
    return TaskData(task=task, label_names=names, train=split, validation=split)


def test_loss_weights_by_hand() -> None:
    single = tiny_data("single_label", ["a", "a", "a", "b"])
    # balanced: rows / (classes * count) = 4 / (2 * 3) and 4 / (2 * 1)
    weights = loss_weights(single, TrainConfig(class_weights="balanced"))
    np.testing.assert_allclose(weights.numpy(), [2 / 3, 2.0], rtol=1e-6)
    assert loss_weights(single, TrainConfig()) is None

    multi = tiny_data("multi_label", [["a"], ["a", "b"], ["a"], [], ["a"]])
    # pos_weight = negatives / positives per label: a 1/4 (clipped up to 1), b 4/1
    for kind, expected in (("weighted", [1.0, 4.0]), ("sqrt-weighted", [1.0, 2.0])):
        weights = loss_weights(multi, TrainConfig(multi_label_loss=kind))
        np.testing.assert_allclose(weights.numpy(), expected, rtol=1e-6)
    assert loss_weights(multi, TrainConfig(multi_label_loss="bce")) is None
    rare = tiny_data("multi_label", [["a"]] + [[]] * 199)  # 199 negatives per positive: clipped
    assert loss_weights(rare, TrainConfig()).tolist()[0] == 30.0
    assert loss_weights(rare, TrainConfig(multi_label_loss="sqrt-weighted")).tolist()[0] == 10.0


def test_loss_by_task_with_weights_by_hand() -> None:
    zero = torch.zeros(1, 2)
    # Cross-entropy of equal logits is ln 2 whatever the class weight (a weighted mean of one row).
    ce = loss(zero, torch.tensor([0]), "single_label", torch.tensor([3.0, 1.0]))
    assert ce.item() == pytest.approx(math.log(2), rel=1e-6)
    # BCE at logit 0: ln 2 per label, times pos_weight where the label applies; mean over 2 labels.
    bce = loss(zero, torch.tensor([[1.0, 0.0]]), "multi_label", torch.tensor([4.0, 4.0]))
    assert bce.item() == pytest.approx((4 * math.log(2) + math.log(2)) / 2, rel=1e-6)
    mse = loss(torch.tensor([[1.0], [3.0]]), torch.tensor([0.0, 1.0]), "regression")
    assert mse.item() == pytest.approx((1 + 4) / 2)


def test_head_learning_rate_is_a_second_parameter_group(tiny_models, tmp_path: Path) -> None:
    from clf_train.data import load_task_data
    from clf_train.trainer import build_trainer

    data = load_task_data(SUPPORT_TRAIN, None, "text", "label", None, "auto", ";", 0.1, 0)
    cfg = config(tiny_models["bert"], tmp_path / "out", method="full", head_learning_rate=5e-3)
    cfg = cfg.resolved(data.task)
    model, tok = load_model(cfg.model, data.task, data.label_names)
    trainer = build_trainer(model, tok, data, cfg, tmp_path / "checkpoints")
    trainer.create_optimizer()
    groups = {g["lr"]: sum(p.numel() for p in g["params"]) for g in trainer.optimizer.param_groups}
    heads = ("classifier.", "bert.pooler.")  # clf_train.model.HEAD_MODULES present in BERT
    head = sum(p.numel() for n, p in model.named_parameters() if n.startswith(heads))
    assert groups == {1e-3: model.num_parameters() - head, 5e-3: head}


def test_class_weights_and_head_learning_rate_through_the_cli(tiny_models, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from clf_train.cli import main

    out = tmp_path / "out"
    args = ["--model", str(tiny_models["bert"]), "--max-steps", "4", "--lr", "1e-3", "--output", str(out)]
    args += ["--class-weights", "balanced", "--head-learning-rate", "5e-3"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "training_args.json").read_text())
    assert saved["class_weights"] == "balanced" and saved["head_learning_rate"] == 5e-3
