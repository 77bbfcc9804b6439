from __future__ import annotations

import json
from pathlib import Path

import pytest
import tiny


def make_model(
    folder: Path, arch: str, task: str, text_pair: bool = False, labels=None, seed: int = 0
) -> Path:
    labels = (
        labels
        or {
            "single_label": ("neg", "neu", "pos"),
            "multi_label": ("a", "b", "c", "d"),
            "regression": ("score",),
        }[task]
    )
    tiny.build_model(folder, arch=arch, task=task, labels=labels, seed=seed)
    tiny.write_train_meta(folder, task, text_pair, 32)
    return folder


def write_validation(path: Path, model_dir: Path, texts: list, task: str) -> Path:
    """Labels = the PyTorch model's own predictions, so fp32 scores 1.0 and drops are measurable."""
    import numpy as np

    from clf_export.gate import torch_logits

    logits = torch_logits(model_dir, texts, 32)
    config = json.loads((model_dir / "config.json").read_text())
    names = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
    with open(path, "w") as f:
        for text, row in zip(texts, logits, strict=True):
            if task == "single_label":
                label = names[int(np.argmax(row))]
            elif task == "multi_label":
                label = [n for n, x in zip(names, row, strict=True) if x > 0]
            else:
                label = float(row[0])
            item = {"text": text[0], "text_pair": text[1]} if isinstance(text, tuple) else {"text": text}
            f.write(json.dumps({**item, "label": label}) + "\n")
    return path


@pytest.fixture
def texts() -> list[str]:
    words = tiny.WORDS
    return [" ".join(words[(i * 7 + j * 3) % len(words)] for j in range(3 + i % 11)) for i in range(60)]
