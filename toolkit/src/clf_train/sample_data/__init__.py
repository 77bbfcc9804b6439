"""Sample data shipped with clf, written for it (no third-party data).

- support_train.csv / support_test.csv: 240 short customer-support messages in 4 classes
  (refund_request, order_inquiry, technical_problem, general_feedback), 60 each, every fifth
  message of each class held out for the test split. `clf-train` without --data trains on these.
- support_multilabel.jsonl: 160 messages built by joining one or two of those messages; `label`
  lists their topics (multi-label).
- support_pairs.csv: 160 sentence pairs scored 0-5 (sentence1, sentence2, score): pairs on the same
  topic score 3.2-5, pairs on different topics 0-1.8 (regression on text pairs).

`python -m clf_train.sample_data texts` prints the test texts, one per line (used by `make demo`).
"""

from __future__ import annotations

import csv
from pathlib import Path

HERE = Path(__file__).parent
SUPPORT_TRAIN = HERE / "support_train.csv"
SUPPORT_TEST = HERE / "support_test.csv"
SUPPORT_MULTILABEL = HERE / "support_multilabel.jsonl"
SUPPORT_PAIRS = HERE / "support_pairs.csv"


def test_texts() -> list[str]:
    with open(SUPPORT_TEST, encoding="utf-8", newline="") as f:
        return [row["text"] for row in csv.DictReader(f)]
