"""The default recipes learn: tiny pair models trained with clf-train's defaults on generated data
whose answer is known, checked epoch by epoch (the SICK regression once collapsed after epoch 1)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clf_train import TrainConfig, train
from clf_train.divergence import diagnose
from clf_train.model import load_model, output_layer
from clf_train.objective import TargetScale
from clf_train.reference import forward_inputs

POSITIVE = ["great", "good", "love", "awesome", "thanks"]
NEUTRAL = ["order", "card", "app", "email", "phone", "page", "site", "parcel", "price", "team"]


def pairs(path: Path, rows: int, seed: int) -> Path:
    """Sentence pairs scored 1 + the number of positive words in both (1 to 5, mean near 3): a
    sum the model can read off its bag of words. `entailment` is the pair-classification label."""
    rng = random.Random(seed)
    out = []
    for _ in range(rows):
        counts = (rng.randint(0, 2), rng.randint(0, 2))
        a, b = (" ".join(rng.sample(POSITIVE, n) + rng.sample(NEUTRAL, 4 - n)).split() for n in counts)
        rng.shuffle(a)
        rng.shuffle(b)
        score = 1 + sum(counts)
        out.append(
            {
                "a": " ".join(a),
                "b": " ".join(b),
                "score": float(score),
                "entailment": "high" if score >= 3 else "low",
            }
        )
    pd.DataFrame(out).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(("label", "metric"), [("score", "pearson"), ("entailment", "accuracy")])
def test_default_recipe_rises_over_epochs(tiny_models, tmp_path: Path, label: str, metric: str) -> None:
    data = pairs(tmp_path / "pairs.csv", 640, seed=0)
    config = TrainConfig(
        data=data,
        text_column="a",
        text_pair_column="b",
        label_column=label,
        task="regression" if label == "score" else "auto",  # whole-number scores read as classes
        model=str(tiny_models["bert"]),
        output=tmp_path / "out",
        max_length=32,
        progress=False,
        seed=1,
    )  # learning rate, epochs and patience: the recipe's
    result = train(config)
    history = result.metric_history
    assert history and len(history) >= 3, history
    assert max(history[1:]) > history[0] + 0.05, history
    assert result.divergence is None, result.divergence
    if label == "score":
        # Trained on standardized targets, saved on the data's own scale (1 to 5).
        assert abs(float(np.mean(result.validation_logits)) - 3.0) < 1.0, result.validation_logits[:5]


def test_divergence_is_named_with_the_fix() -> None:
    # The run: Pearson 0.5286, 0.2809, 0.2954 and early stopping kept epoch 1.
    line = diagnose([0.5286, 0.2809, 0.2954], [2.6622, 2.1341, 2.0545], "pearson", 2e-3)
    assert line and "pearson fell from 0.5286" in line and "--learning-rate" in line and "try 5e-4" in line
    assert diagnose([0.70, 0.80, 0.79], [1.0, 0.6, 0.5], "pearson", 2e-3) is None  # ordinary over-fitting
    assert "did not fall" in diagnose([0.5, 0.6], [1.0, 1.1], "accuracy", 2e-4)


@pytest.mark.parametrize("arch", ["bert", "distilbert", "roberta"])
def test_target_scale_folds_into_the_output_layer(tiny_models, arch: str) -> None:
    import torch

    model, tokenizer = load_model(str(tiny_models[arch]), "regression", ("score",))
    model.eval()
    inputs = tokenizer(
        ["where is my refund", "great service"], ["my card", "thanks"], padding=True, return_tensors="pt"
    )
    inputs = {k: v for k, v in inputs.items() if k in forward_inputs(model)}
    with torch.no_grad():
        before = model(**inputs).logits.numpy()
        scale = TargetScale(mean=3.5, std=0.8)
        scale.fold_into(output_layer(model))
        after = model(**inputs).logits.numpy()
    np.testing.assert_allclose(after, scale.original(before), rtol=1e-5, atol=1e-5)
