"""The train -> export handoff (clf_train.handoff): strict clf_train.json, line-safe validation.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clf_runtime.errors import InputError
from clf_runtime.jsonl import read_jsonl, write_jsonl
from clf_train.handoff import (
    HANDOFF_NAME,
    HandoffError,
    TrainHandoff,
    labelled_rows,
    read_handoff,
    write_handoff,
)

# Each of these ends a line for str.splitlines(), editors or JavaScript; none may split a row.
AWKWARD = ["a\u2028b", "c\u2029d", "e\x85f", "g\x0ch", "i\x0bj", "k\x1el", "m\rn", "o\r\np", "é 🙂 ünï"]
GOOD = {
    "format": "clf-train",
    "format_version": 1,
    "task": "multi_label",
    "labels": ["billing", "bug"],
    "text_pair": False,
    "max_length": 64,
    "thresholds": [0.35, 0.5],
    "label_separator": "|",
    "metrics": {"validation": {"f1_micro": 0.8}},
}


def test_handoff_round_trips(tmp_path: Path) -> None:
    handoff = TrainHandoff.from_json(GOOD)
    write_handoff(tmp_path, handoff)
    assert read_handoff(tmp_path) == handoff
    assert json.loads((tmp_path / HANDOFF_NAME).read_text()) == GOOD
    assert read_handoff(tmp_path / "elsewhere") is None  # a model folder not written by clf-train


@pytest.mark.parametrize(
    "change, match",
    [
        ({"format_version": "1"}, "format_version '1'"),
        ({"format_version": 2}, "format_version 2"),
        ({"format": "other"}, "not a clf-train handoff"),
        ({"task": "ranking"}, "task 'ranking'"),
        ({"labels": []}, "non-empty list"),
        ({"labels": ["a", "a"], "thresholds": None}, "unique"),
        ({"labels": ["a", "b\nc"]}, "line breaks"),
        ({"labels": ["a", 3]}, "non-empty strings"),
        ({"text_pair": "false"}, "text_pair must be true or false"),
        ({"max_length": 64.0}, "max_length must be an integer"),
        ({"max_length": True}, "max_length must be an integer"),
        ({"thresholds": [0.5]}, "one number in \\[0, 1\\] per label"),
        ({"thresholds": [0.5, float("nan")]}, "one number in \\[0, 1\\] per label"),
        ({"task": "single_label"}, "thresholds must be null"),
        ({"label_separator": ""}, "label_separator"),
        ({"extra": 1}, "unknown field\\(s\\) extra"),
        ({"labels": None}, "non-empty list"),
    ],
)
def test_handoff_is_strict(tmp_path: Path, change: dict, match: str) -> None:
    (tmp_path / HANDOFF_NAME).write_text(json.dumps({**GOOD, **change}))
    with pytest.raises(HandoffError, match=match) as info:
        read_handoff(tmp_path)
    assert str(info.value).startswith(str(tmp_path / HANDOFF_NAME))


def test_handoff_missing_fields_and_bad_json(tmp_path: Path) -> None:
    (tmp_path / HANDOFF_NAME).write_text(json.dumps({"format": "clf-train", "format_version": 1}))
    with pytest.raises(HandoffError, match="missing field\\(s\\) task, labels, text_pair, max_length"):
        read_handoff(tmp_path)
    (tmp_path / HANDOFF_NAME).write_bytes(b"{\xff")
    with pytest.raises(HandoffError, match="not valid JSON"):
        read_handoff(tmp_path)


def test_validation_rows_round_trip_awkward_line_breaks(tmp_path: Path) -> None:
    path = tmp_path / "validation.jsonl"
    labels = [["billing"], [], ["bug", "billing"]] * 3
    write_jsonl(path, labelled_rows(AWKWARD, list(reversed(AWKWARD)), labels))
    raw = path.read_text(encoding="utf-8")
    assert raw.count("\n") == len(AWKWARD)
    assert len(raw.splitlines()) == len(AWKWARD)  # safe even for readers that use splitlines()
    assert "é 🙂 ünï" in raw  # non-ASCII stays readable
    rows = [row for _, row in read_jsonl(path)]
    assert [r["text"] for r in rows] == AWKWARD
    assert [r["text_pair"] for r in rows] == list(reversed(AWKWARD))
    assert [r["label"] for r in rows] == labels


def test_reader_splits_only_at_newline(tmp_path: Path) -> None:
    """Files from other tools (json.dumps(ensure_ascii=False)) hold U+2028 and U+0085 raw."""
    path = tmp_path / "v.jsonl"
    lines = [json.dumps({"text": t}, ensure_ascii=False) for t in AWKWARD]
    path.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n\n").encode())  # BOM, CRLF, blank line
    assert [row["text"] for _, row in read_jsonl(path)] == AWKWARD


def test_reader_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "v.jsonl"
    path.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(InputError, match="line 2: not valid UTF-8"):
        list(read_jsonl(path))
    path.write_text('{"text": "ok"}\n\n[1]\n')
    with pytest.raises(InputError, match="line 3: expected a JSON object"):
        list(read_jsonl(path))
    path.write_text('{"text": "ok"}\n{"text": \n')
    with pytest.raises(InputError, match="line 2: not valid JSON"):
        list(read_jsonl(path))
    with pytest.raises(InputError, match="cannot read .*: Is a directory; it is a folder"):
        list(read_jsonl(tmp_path))
    with pytest.raises(InputError, match="No such file or directory; check the path"):
        list(read_jsonl(tmp_path / "missing.jsonl"))


def test_non_finite_metrics_are_written_as_null(tmp_path: Path) -> None:
    handoff = TrainHandoff.from_json({**GOOD, "metrics": {"validation": {"pearson": float("nan")}}})
    write_handoff(tmp_path, handoff)
    assert "NaN" not in (tmp_path / HANDOFF_NAME).read_text()
    assert read_handoff(tmp_path).metrics == {"validation": {"pearson": None}}
