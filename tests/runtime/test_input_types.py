"""TextClassifier.predict takes a str, a (str, str) pair, or an iterable of those; anything else, and
text that is not valid Unicode, is an InputError naming the input's position and type."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

from clf_runtime import InputError, TextClassifier

from .conftest import fixture_path


@pytest.fixture(scope="module")
def single() -> TextClassifier:
    return TextClassifier.load(fixture_path("tiny-bert"), provider="cpu")


@pytest.fixture(scope="module")
def pair() -> TextClassifier:
    return TextClassifier.load(fixture_path("tiny-pair"), provider="cpu")


@pytest.mark.parametrize(
    ("texts", "match"),
    [
        (None, "texts is NoneType"),
        (np.array("one text"), "texts is a 0-d numpy array"),
        (b"bytes", "texts is bytes.*decode"),
        (bytearray(b"bytes"), "texts is bytearray"),
        (memoryview(b"bytes"), "texts is memoryview"),
        (5, "texts is int"),
        (3.5, "texts is float"),
        (object(), "texts is object"),
        ({"a": "b"}, "texts is a dict"),
        (OrderedDict(a="b"), "texts is a OrderedDict"),
        ({"a", "b"}, "texts is a set"),
        (["ok", None], "input 1 is NoneType"),
        (["ok", "fine", b"bytes"], "input 2 is bytes"),
        ([1], "input 0 is int"),
        (["ok", ["a", "b"]], "input 1 is list"),
        ([("a", "b")], "input 0 is tuple.*not pairs"),
        ([np.array("x")], "input 0 is a 0-d numpy array"),
        (["ok", "bad \ud800 surrogate"], "input 1 is not valid Unicode: a lone surrogate U\\+D800 at char"),
        ("\udcff", "input 0 is not valid Unicode"),
        (lambda: (t for t in ["ok", 7]), "input 1 is int"),  # a generator, made for each call
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, str) else None,
)
def test_single_text_model_refuses(single: TextClassifier, texts, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match=match):
        single.predict(texts() if callable(texts) else texts)
    with pytest.raises(InputError, match=match):
        single.logits(texts() if callable(texts) else texts)


@pytest.mark.parametrize(
    ("texts", "match"),
    [
        (None, "texts is NoneType"),
        ("one text", "input 0 is str: this model classifies text pairs"),
        ([("a", None)], "input 0, part 1 is NoneType"),
        ([("a", "b"), (b"a", "b")], "input 1, part 0 is bytes"),
        ([("a", "b", "c")], "input 0 is tuple"),
        ([("ok", "\udc80")], "input 0, part 1 is not valid Unicode"),
    ],
)
def test_pair_model_refuses(pair: TextClassifier, texts, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match=match):
        pair.predict(texts)


def test_iterables_of_texts_are_taken(single: TextClassifier, pair: TextClassifier) -> None:
    texts = ["where is my refund", "the app crashes"]
    expected = single.logits(texts)
    given_as = (tuple(texts), np.array(texts), iter(texts), (t for t in texts), np.array(texts, dtype=object))
    for given in given_as:
        np.testing.assert_array_equal(single.logits(given), expected)
    assert len(single.predict("one text")) == 1
    assert len(pair.predict(("a man eats", "someone eats"))) == 1  # one pair given bare
    assert len(pair.predict([["a man eats", "someone eats"]])) == 1  # a pair as a list
    assert single.predict([]) == []
