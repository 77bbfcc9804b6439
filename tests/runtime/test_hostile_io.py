"""clf-run's inputs and outputs under misuse: links, devices, pipes, its own input, full disks.

Cases that need a real process (closed or full stdout, /dev/stdin) run `python -m clf_runtime.cli.run`;
the rest go through click's CliRunner.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from clf_runtime.cli.run import main

from .conftest import fixture_path, runtime_env

BERT = str(fixture_path("tiny-bert"))
LINES = "where is my refund\nhello\n"


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "clf_runtime.cli.run", *args]
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.run(cmd, env=runtime_env(), timeout=120, **kwargs)


@pytest.fixture
def text(tmp_path: Path) -> Path:
    path = tmp_path / "in.txt"
    path.write_text(LINES, encoding="utf-8")
    return path


def assert_one_line_error(output: str | bytes, status: int, expected: int = 1) -> None:
    if isinstance(output, bytes):
        output = output.decode()
    assert status == expected, output
    assert "Traceback" not in output and output.count("\n") == 1, output


# --- outputs ---------------------------------------------------------------------------------


def test_output_through_a_symlink_replaces_the_target_and_keeps_the_link(text: Path, tmp_path: Path) -> None:
    target = tmp_path / "real" / "out.txt"
    target.parent.mkdir()
    target.write_text("old\n")
    target.chmod(0o640)
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    assert run(str(text), "-m", BERT, "-o", str(link)).exit_code == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert len(target.read_text().splitlines()) == 2
    assert (target.stat().st_mode & 0o777) == 0o640  # the replaced file keeps its permissions
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]  # no temporary left


def test_output_through_a_dangling_symlink_creates_its_target(text: Path, tmp_path: Path) -> None:
    link = tmp_path / "link.txt"
    link.symlink_to(tmp_path / "new.txt")
    assert run(str(text), "-m", BERT, "-o", str(link)).exit_code == 0
    assert link.is_symlink() and len((tmp_path / "new.txt").read_text().splitlines()) == 2


def test_output_symlink_to_another_file_system(text: Path, tmp_path: Path) -> None:
    # The issue: a link to another file system raised EXDEV (the temporary file sat beside the link).
    other = Path("/dev/shm")
    if not other.is_dir() or other.stat().st_dev == tmp_path.stat().st_dev or not os.access(other, os.W_OK):
        pytest.skip("needs a writable /dev/shm on another file system")
    target = other / f"clf-test-{os.getpid()}.txt"
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    try:
        assert run(str(text), "-m", BERT, "-o", str(link)).exit_code == 0
        assert len(target.read_text().splitlines()) == 2 and link.is_symlink()
    finally:
        target.unlink(missing_ok=True)


def test_dash_is_stdout(text: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run(str(text), "-m", BERT, "-o", "-")
    assert result.exit_code == 0 and len(result.output.splitlines()) == 2
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize("how", ["same", "symlink", "hardlink", "relative"])
def test_output_that_is_the_input_is_refused_and_the_input_kept(
    text: Path, tmp_path: Path, monkeypatch, how: str
) -> None:
    out = {
        "same": text,
        "symlink": tmp_path / "l.txt",
        "hardlink": tmp_path / "h.txt",
        "relative": Path("in.txt"),
    }[how]
    if how == "symlink":
        out.symlink_to(text)
    if how == "hardlink":
        os.link(text, out)
    monkeypatch.chdir(tmp_path)
    result = run(str(text), "-m", BERT, "-o", str(out))
    assert_one_line_error(result.output, result.exit_code)
    assert "is the input file" in result.output
    assert text.read_text() == LINES


def test_output_that_is_stdin_redirected_from_it_is_refused(text: Path) -> None:
    with open(text, "rb") as f:
        done = cli("-", "-m", BERT, "-o", str(text), stdin=f)
    assert_one_line_error(done.stderr, done.returncode)
    assert text.read_text() == LINES


def test_output_to_dev_null_keeps_the_device(text: Path) -> None:
    if not Path("/dev/null").is_char_device():
        pytest.skip("/dev/null is not a device on this machine")
    assert run(str(text), "-m", BERT, "-o", "/dev/null").exit_code == 0
    assert Path("/dev/null").is_char_device()


def test_output_to_dev_stdout_through_a_pipe(text: Path) -> None:
    done = cli(str(text), "-m", BERT, "-o", "/dev/stdout")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 2


def test_output_to_a_fifo_is_written_directly(text: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    result = run(str(text), "-m", BERT, "-o", str(fifo))
    reader.join(timeout=60)
    assert result.exit_code == 0 and len(got[0].splitlines()) == 2
    assert fifo.is_fifo()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_full_disk_output_is_one_line(text: Path) -> None:
    result = run(str(text), "-m", BERT, "-o", "/dev/full")
    assert_one_line_error(result.output, result.exit_code)
    assert "No space left" in result.output


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_full_stdout_is_one_line(text: Path) -> None:
    with open("/dev/full", "wb") as full:
        done = cli(str(text), "-m", BERT, stdout=full)
    assert_one_line_error(done.stderr, done.returncode)
    assert b"standard output" in done.stderr


def test_closed_stdout_is_one_line(text: Path) -> None:
    done = subprocess.run(
        f'exec 1>&-; "{sys.executable}" -m clf_runtime.cli.run "{text}" -m "{BERT}"',
        shell=True,
        env=runtime_env(),
        stderr=subprocess.PIPE,
        timeout=120,
    )
    assert_one_line_error(done.stderr, done.returncode)
    assert b"standard output is closed" in done.stderr


def test_stdout_closed_early_by_the_reader_is_quiet(tmp_path: Path) -> None:
    path = tmp_path / "many.txt"
    path.write_text("hello there\n" * 20_000, encoding="utf-8")
    done = subprocess.run(
        f'"{sys.executable}" -m clf_runtime.cli.run "{path}" -m "{BERT}" | head -n 1',
        shell=True,
        env=runtime_env(),
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 1
    assert done.stderr == b""


def test_file_too_large_leaves_no_temporary(text: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "big.txt"
    out.parent.mkdir()
    done = cli(str(text), "-m", BERT, "-o", str(out), preexec_fn=_no_file_growth)
    assert_one_line_error(done.stderr, done.returncode)
    assert b"File too large" in done.stderr
    assert list(out.parent.iterdir()) == []


def _no_file_growth() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


def test_output_folder_is_refused(text: Path, tmp_path: Path) -> None:
    result = run(str(text), "-m", BERT, "-o", str(tmp_path))
    assert result.exit_code == 2 and "directory" in result.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_output_folder_is_one_line(text: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    result = run(str(text), "-m", BERT, "-o", str(locked / "out.txt"))
    assert_one_line_error(result.output, result.exit_code)


# --- inputs ----------------------------------------------------------------------------------


def test_fifo_input_is_read(tmp_path: Path) -> None:
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text(LINES))
    writer.start()
    result = run(str(fifo), "-m", BERT)
    writer.join(timeout=60)
    assert result.exit_code == 0 and len(result.output.splitlines()) == 2


def test_dev_stdin_input_is_read() -> None:
    done = cli("/dev/stdin", "-m", BERT, input=LINES.encode())
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 2


def test_folder_input_is_one_line(tmp_path: Path) -> None:
    result = run(str(tmp_path), "-m", BERT)
    assert_one_line_error(result.output, result.exit_code)
    assert "is a folder" in result.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root may read anything")
def test_unreadable_input_is_one_line(text: Path) -> None:
    text.chmod(0)
    result = run(str(text), "-m", BERT)
    assert_one_line_error(result.output, result.exit_code)
    assert "cannot read" in result.output


def test_unreadable_input_reported_by_the_os_is_one_line() -> None:
    # Reading /proc/self/mem at offset 0 fails with EIO at read time, whoever runs the test.
    from clf_runtime import InputError, TextClassifier
    from clf_runtime.stream import StreamOptions, classify_stream

    clf = TextClassifier.load(BERT, provider="cpu")
    if not Path("/proc/self/mem").exists():
        pytest.skip("needs Linux /proc")
    with open("/proc/self/mem", "rb") as mem, pytest.raises(InputError, match="cannot read"):
        classify_stream(clf, mem, io.StringIO(), StreamOptions())


@pytest.mark.parametrize("value", ["nan", "inf", "-0.5", "1.5"])
def test_bad_threshold_is_a_bad_option(text: Path, value: str) -> None:
    result = run(str(text), "-m", str(fixture_path("tiny-multi")), "--threshold", value)
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_nan_threshold_in_python_is_an_input_error() -> None:
    from clf_runtime import InputError, TextClassifier

    clf = TextClassifier.load(fixture_path("tiny-multi"), provider="cpu")
    with pytest.raises(InputError, match="threshold"):
        clf.predict(["hi"], threshold=float("nan"))


def test_top_k_above_the_label_count_is_clamped(text: Path) -> None:
    rows = list(
        csv.reader(io.StringIO(run(str(text), "-m", BERT, "--top-k", "10", "--format", "csv").output))
    )
    assert rows[0] == ["label_1", "score_1", "label_2", "score_2", "label_3", "score_3"]
    assert all(len(r) == len(rows[0]) for r in rows)
    objs = [
        json.loads(r)
        for r in run(str(text), "-m", BERT, "--top-k", "10", "--format", "jsonl").output.splitlines()
    ]
    assert all(len(o["scores"]) == 3 for o in objs)


def test_non_utf8_past_the_kept_part_of_a_long_line_is_still_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(b"ok\n" + b"word " * 200_000 + b"caf\xe9\n")
    result = run(str(path), "-m", BERT)
    assert_one_line_error(result.output, result.exit_code)
    assert "line 2: not valid UTF-8" in result.output


def test_debug_env_shows_tracebacks_of_unexpected_errors(monkeypatch) -> None:
    import click

    from clf_runtime.cli import user_errors

    with pytest.raises(click.ClickException, match="unexpected ZeroDivisionError.*CLF_DEBUG"), user_errors():
        1 / 0  # noqa: B018
    monkeypatch.setenv("CLF_DEBUG", "1")
    with pytest.raises(ZeroDivisionError), user_errors():
        1 / 0  # noqa: B018
