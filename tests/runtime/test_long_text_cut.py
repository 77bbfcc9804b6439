"""Long texts are cut to what the long-text strategy reads before they are tokenized in full.

The answer must not change: under truncate and head-tail, and under windows for a text of up to
WINDOWS_KEPT_WHOLE x max_windows windows, a cut text's logits equal the whole text's. Memory: one
4 MB text costs a few MiB over the idle process, measured as the peak RSS of a fresh interpreter.
"""

from __future__ import annotations

import random
import subprocess
import sys

import numpy as np
import pytest

from clf_runtime import TextClassifier
from clf_runtime.long_text import WINDOWS_KEPT_WHOLE, LongText, LongTextEncoder

from .conftest import fixture_path, runtime_env

BERT = fixture_path("tiny-bert")
# Known words, unknown ones, accents, combining marks, CJK, emoji, punctuation, zero-width spaces.
VOCABULARY = [
    *["refund", "order", "parcel", "payment", "where", "is", "my", "the", "app", "crashes", "great"],
    *["service", "thanks", "unbelievable", "na\u00efve", "caf\u00e9", "cafe\u0301", "\u4e2d\u6587"],
    *["\U0001f642", "!!!", "...", "zzzqqq", "x\u200by"],
]


def text(rng: random.Random, words: int, sep: str = " ") -> str:
    return sep.join(rng.choice(VOCABULARY) for _ in range(words))


def hostile_texts() -> list[str]:
    rng = random.Random(7)
    return [
        text(rng, 5000),
        " " * 20000 + text(rng, 3000),  # whitespace before the words the model reads
        text(rng, 100, " " * 80) + text(rng, 3000),  # long runs between them
        text(rng, 3000, "\u200b "),
        text(rng, 3000) + " " * 50000,  # whitespace after
        text(rng, 3000, "\n\t"),
        "".join(rng.choice("ab ,.") for _ in range(40000)),
        "中文" * 20000,
        "e\u0301" * 10000 + " " + text(rng, 2000),  # one 20,000-character word
    ]


@pytest.fixture(scope="module")
def clf() -> TextClassifier:
    return TextClassifier.load(BERT, provider="cpu", precision="fp32")


def uncut(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(LongTextEncoder, "cut", lambda self, value: value)


@pytest.mark.parametrize("strategy", ["truncate", "head-tail", "windows"])
def test_a_cut_text_reads_as_the_whole_text(clf: TextClassifier, strategy: str, monkeypatch) -> None:
    texts = hostile_texts()
    encoder = LongTextEncoder(clf.tokenizer, 32, LongText(strategy))
    cut = [encoder.cut(t) for t in texts]
    if strategy != "windows":  # windows keeps texts of up to 16 x 8 windows whole: these are
        assert sum(len(c) < len(t) for c, t in zip(cut, texts, strict=True)) >= 7
    got = clf.logits(texts, long_text=strategy)
    uncut(monkeypatch)
    np.testing.assert_array_equal(got, clf.logits(texts, long_text=strategy))


def test_text_pairs_are_cut_on_each_side(monkeypatch) -> None:
    pair = TextClassifier.load(fixture_path("tiny-pair"), provider="cpu", precision="fp32")
    rng = random.Random(3)
    pairs = [(text(rng, 4000), "short"), ("short", text(rng, 4000)), (text(rng, 3000), text(rng, 20))]
    encoder = LongTextEncoder(pair.tokenizer, 32, LongText(), text_pair=True)
    for (a, b), (whole_a, whole_b) in zip(encoder.cut_items(pairs), pairs, strict=True):
        assert len(a) + len(b) < len(whole_a) + len(whole_b)
    got = pair.logits(pairs)
    uncut(monkeypatch)
    np.testing.assert_array_equal(got, pair.logits(pairs))
    # Both parts long: each is cut, and which one gives up the odd token of an odd budget (29 here)
    # follows their kept lengths, not their whole ones (the README says so).


def test_windows_past_the_whole_text_limit_keep_start_and_end(clf: TextClassifier) -> None:
    config = LongText("windows", stride=0, max_windows=2)
    encoder = LongTextEncoder(clf.tokenizer, 32, config)
    whole = " ".join(["refund"] * (30 * 2 * WINDOWS_KEPT_WHOLE * 10) + ["thanks"])  # 10x the limit
    cut = encoder.cut(whole)
    assert len(cut) < len(whole) / 2 and cut.startswith("refund") and cut.endswith("thanks")
    windows = encoder.encode([whole]).encodings
    assert len(windows) == 2
    assert windows[0].tokens[:2] == ["[CLS]", "refund"] and windows[1].tokens[-2:] == ["thanks", "[SEP]"]
    # Up to the limit, a text is kept whole: its windows are spread over all of it.
    assert encoder.cut(" ".join(["refund"] * (30 * 2 * WINDOWS_KEPT_WHOLE))) != cut


def test_inputs_too_long_counts_cut_texts(clf: TextClassifier) -> None:
    before = clf.inputs_too_long
    clf.predict(["refund " * 100_000, "short"], long_text="truncate")
    assert clf.inputs_too_long == before + 1
    assert clf.longer_than_max(["short", "refund " * 100_000, "refund " * 20]) == [1]


PEAK = """
import random, resource, sys
from clf_runtime import TextClassifier
clf = TextClassifier.load(sys.argv[1], precision="fp32")
clf.predict(["a short text"], long_text=sys.argv[3])
idle = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
n = 4 << 20
if sys.argv[2] == "words":
    rng = random.Random(0)
    words = "refund parcel the app crashes great service thanks where is my order".split()
    text = " ".join(rng.choice(words) for _ in range(n // 6))[:n]
else:
    text = " " * (n - 20) + "refund please"
clf.predict([text], long_text=sys.argv[3])
print(idle, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux")
@pytest.mark.parametrize("strategy", ["truncate", "head-tail", "windows"])
@pytest.mark.parametrize("kind", ["words", "spaces"])
def test_one_4mb_text_costs_a_few_mib(strategy: str, kind: str) -> None:
    # Measured on the 2-core machine (tiny-bert): 8-10 MiB over idle (19 for windows over words, 53
    # over 4 MB of spaces); before the cut, 610-905 MiB (250 for the spaces). The text is 4 MiB of it.
    done = subprocess.run(
        [sys.executable, "-c", PEAK, str(BERT), kind, strategy],
        env=runtime_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    idle_kib, peak_kib = map(int, done.stdout.split())
    assert peak_kib - idle_kib < 100 * 1024, (idle_kib, peak_kib)


BATCH = """
import resource, sys
from clf_runtime.cli.batch import main
try:
    main([sys.argv[1], "--output", sys.argv[2], "--model", sys.argv[3]])
except SystemExit as e:
    assert not e.code, e.code
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux")
def test_clf_batch_on_a_20mb_parquet_cell_holds_the_cell_not_its_tokens(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("pyarrow")
    import pyarrow as pa
    import pyarrow.parquet as pq

    def peak_kib(rows: list[str], name: str) -> int:
        source = tmp_path / f"{name}.parquet"
        pq.write_table(pa.table({"text": rows}), source)
        done = subprocess.run(
            [sys.executable, "-c", BATCH, str(source), str(tmp_path / f"out-{name}"), str(BERT)],
            env=runtime_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        return int(done.stdout.split()[-1])

    short = ["where is my refund", "the app crashes"] * 50
    big = ("refund parcel the app crashes great service thanks where is my order " * 300_000)[: 20 << 20]
    small_kib, big_kib = peak_kib(short, "small"), peak_kib([*short, big], "big")
    # The cell is 20 MiB in the file, in Arrow and as a str: measured +176 MiB on the 2-core machine;
    # the 50 MB cell took more than 8 GB before the cut.
    assert big_kib - small_kib < 400 * 1024, (small_kib, big_kib)
