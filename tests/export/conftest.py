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

    from clf_runtime.jsonl import write_jsonl
    from clf_train.handoff import labelled_rows
    from clf_train.reference import folder_logits

    logits = folder_logits(model_dir, texts, 32)
    config = json.loads((model_dir / "config.json").read_text())
    names = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
    out = []
    for row in logits:
        if task == "single_label":
            out.append(names[int(np.argmax(row))])
        elif task == "multi_label":
            out.append([n for n, x in zip(names, row, strict=True) if x > 0])
        else:
            out.append(float(row[0]))
    pairs = [t[1] for t in texts] if texts and isinstance(texts[0], tuple) else None
    firsts = [t[0] for t in texts] if pairs is not None else texts
    write_jsonl(path, labelled_rows(firsts, pairs, out))
    return path


@pytest.fixture
def texts() -> list[str]:
    words = tiny.WORDS
    return [" ".join(words[(i * 7 + j * 3) % len(words)] for j in range(3 + i % 11)) for i in range(60)]
