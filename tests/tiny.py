"""Tiny random models and a tiny tokenizer for tests: built offline in a second, deterministic.

Nothing here downloads anything. The tokenizer is a WordPiece vocabulary of the words the tests
use plus single characters, so every input (non-ASCII included) tokenizes without [UNK] storms.
"""

from __future__ import annotations

import string
from pathlib import Path

WORDS = """
the a an and or to of in on for is it my i you we can not no yes please help where when how
why what order refund money back card account password login app crash error bug slow broken
payment charge charged twice delivery late parcel package arrived never shipped track tracking
great thanks love awesome terrible bad good service support team product price cancel return
email phone update install screen button page site website work working works does did done
""".split()  # noqa: SIM905 - a word list reads best as text

TASKS = ("single_label", "multi_label", "regression")


def build_tokenizer(folder: Path, lowercase: bool = True):  # -> PreTrainedTokenizerFast
    """A BERT-style fast tokenizer saved into `folder` (tokenizer.json + config files)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list(string.ascii_lowercase + string.digits + string.punctuation + "éèàüöäßñç€£")
    vocab_list = specials + sorted(set(WORDS)) + chars + ["##" + c for c in chars]
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys(vocab_list))}
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase, strip_accents=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tok.decoder = decoders.WordPiece()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=512,
    )
    fast.save_pretrained(folder)
    return fast


def build_model(
    folder: Path,
    arch: str = "bert",
    task: str = "single_label",
    labels: tuple[str, ...] = ("negative", "neutral", "positive"),
    seed: int = 0,
    hidden: int = 32,
    layers: int = 2,
    init_range: float = 0.2,
):
    """A random sequence classifier of `arch` (bert, distilbert, roberta) saved with a tokenizer."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from clf_train.reference import PROBLEM_TYPES

    folder = Path(folder)
    tokenizer = build_tokenizer(folder)
    vocab = len(tokenizer)
    common = {
        "vocab_size": vocab,
        "num_labels": len(labels),
        "id2label": dict(enumerate(labels)),
        "label2id": {lab: i for i, lab in enumerate(labels)},
        "problem_type": PROBLEM_TYPES[task],
        "pad_token_id": tokenizer.pad_token_id,
        # Wider than BERT's 0.02 so that random logits differ enough to make predictions testable.
        "initializer_range": init_range,
    }
    config = _arch_config(arch, hidden, layers, common)
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_config(config)
    model.eval()
    model.save_pretrained(folder)
    return model, tokenizer


def _arch_config(arch: str, hidden: int, layers: int, common: dict):  # -> PretrainedConfig
    """The transformers config of a small `arch`: 2 heads, feed-forward twice `hidden` wide."""
    from transformers import BertConfig, DistilBertConfig, RobertaConfig

    if arch == "distilbert":
        return DistilBertConfig(
            dim=hidden,
            n_layers=layers,
            n_heads=2,
            hidden_dim=hidden * 2,
            max_position_embeddings=128,
            **common,
        )
    sizes = {
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": 2,
        "intermediate_size": hidden * 2,
    }
    if arch == "bert":
        return BertConfig(**sizes, max_position_embeddings=128, **common)
    if arch == "roberta":
        # RoBERTa offsets positions by padding_idx + 1, so it needs two extra positions.
        return RobertaConfig(**sizes, max_position_embeddings=130, type_vocab_size=1, **common)
    raise ValueError(arch)


def write_train_meta(folder: Path, task: str, text_pair: bool, max_length: int) -> None:
    """The clf_train.json that clf-train writes, for hand-built test models (labels from config.json)."""
    import json

    from clf_train.handoff import TrainHandoff, write_handoff

    id2label = json.loads((Path(folder) / "config.json").read_text())["id2label"]
    labels = tuple(id2label[str(i)] for i in range(len(id2label)))
    write_handoff(folder, TrainHandoff(task=task, labels=labels, text_pair=text_pair, max_length=max_length))


SAMPLE_TEXTS = [
    "where is my refund",
    "",
    "the app crashed twice when I tried to login",
    "Thanks, great service!",
    "Mon colis n'est jamais arrivé, où est-il ? 🙂",
    "order " * 200,  # longer than any max length: must be truncated
    "card",
    "I was charged twice for one order and the support team did not answer my email",
    "Ünïcödé ñ ß € £",
    "   ",
]
