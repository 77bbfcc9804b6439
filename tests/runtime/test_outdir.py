"""Output folders (clf_runtime.outdir): written whole, replaced only if clf wrote them, no user file lost."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from clf_runtime.outdir import MARKER_NAME, OutputError, check_output, output_folder

TOOL = "clf-test"


def write(dest: Path, tool: str = TOOL, files: dict[str, str] | None = None, **kw) -> None:
    with output_folder(dest, tool, **kw) as tmp:
        for name, text in (files or {"model.bin": "weights", "sub/report.md": "# report"}).items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_text(text)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith((".tmp-", ".old-")))


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_new_output_has_a_marker_listing_what_was_written(tmp_path: Path) -> None:
    write(tmp_path / "out")
    marker = json.loads((tmp_path / "out" / MARKER_NAME).read_text())
    assert marker["tool"] == TOOL
    assert marker["entries"] == ["model.bin", "sub", "sub/report.md"]
    assert leftovers(tmp_path) == []


def test_rerun_replaces_a_previous_output_of_the_same_tool(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write(out)
    write(out, files={"model.bin": "new weights"})
    assert (out / "model.bin").read_text() == "new weights"
    assert not (out / "sub").exists()  # the previous output is replaced, not merged
    assert leftovers(tmp_path) == []


def test_empty_folder_is_used(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    write(tmp_path / "out")
    assert (tmp_path / "out" / "model.bin").is_file()


@pytest.mark.parametrize("overwrite", [False, True])
def test_user_folder_is_refused_and_untouched(tmp_path: Path, overwrite: bool) -> None:
    out = tmp_path / "mine"
    (out / "deep").mkdir(parents=True)
    (out / "notes.txt").write_text("precious")
    (out / "deep" / "data.csv").write_text("a,b")
    before = snapshot(out)
    with pytest.raises(OutputError, match="did not write .*notes.txt|did not write .*deep"):
        write(out, overwrite=overwrite)
    assert snapshot(out) == before
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("overwrite", [False, True])
def test_user_file_added_to_an_output_is_never_removed(tmp_path: Path, overwrite: bool) -> None:
    out = tmp_path / "out"
    write(out)
    (out / "my-notes.md").write_text("keep me")
    with pytest.raises(OutputError, match=r"holds files clf-test did not write \(my-notes.md\)"):
        write(out, overwrite=overwrite)
    assert (out / "my-notes.md").read_text() == "keep me"
    assert (out / "model.bin").read_text() == "weights"


def test_another_tools_output_needs_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write(out, tool="clf-other")
    with pytest.raises(OutputError, match="is the output of clf-other; pass --overwrite"):
        write(out, files={"x": "1"})
    assert (out / "model.bin").is_file()
    write(out, files={"x": "1"}, overwrite=True)
    assert snapshot(out) == {"x": "1", MARKER_NAME: (out / MARKER_NAME).read_text()}
    assert json.loads((out / MARKER_NAME).read_text())["tool"] == TOOL


@pytest.mark.parametrize("name", [".", "..", "/", "CWD", "PARENT"])
def test_current_folder_and_above_are_refused(tmp_path: Path, monkeypatch, name: str) -> None:
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    dest = {"CWD": str(work), "PARENT": str(tmp_path / "a")}.get(name, name)
    with pytest.raises(OutputError, match="current folder or one above it"):
        write(Path(dest), overwrite=True)
    assert os.listdir(work) == [] and sorted(os.listdir(tmp_path / "a")) == ["b"]


def test_symlink_and_file_and_input_holder_are_refused(tmp_path: Path) -> None:
    target = tmp_path / "target"
    write(target)
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(OutputError, match="symbolic link"):
        write(tmp_path / "link")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        write(tmp_path / "file")
    with pytest.raises(OutputError, match="holds the input"):
        write(target, inputs=[target / "model.bin"])
    with pytest.raises(OutputError, match="holds the input"):
        check_output(target, TOOL, inputs=[target])
    assert (target / "model.bin").read_text() == "weights" and (tmp_path / "file").read_text() == "x"


@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
def test_failure_leaves_the_previous_output_and_no_leftovers(tmp_path: Path, error: type) -> None:
    out = tmp_path / "out"
    write(out)
    before = snapshot(out)
    with pytest.raises(error), output_folder(out, TOOL) as tmp:
        (tmp / "half").write_text("half-written")
        raise error()
    assert snapshot(out) == before
    assert leftovers(tmp_path) == []


def test_os_error_while_writing_is_one_output_error(tmp_path: Path) -> None:
    out = tmp_path / "out"
    match = r"cannot write the output .*out: Is a directory"
    with pytest.raises(OutputError, match=match) as info, output_folder(out, TOOL) as tmp:
        (tmp / "x").mkdir()
        open(tmp / "x", "w")  # noqa: SIM115 - the OS error is the point
    assert "\n" not in str(info.value)
    assert not out.exists() and leftovers(tmp_path) == []


def test_file_too_large_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    """A real EFBIG from the kernel: the file-size limit stands in for a full disk."""
    code = textwrap.dedent(
        f"""
        import resource, signal, sys
        from pathlib import Path
        from clf_runtime.outdir import output_folder
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, {resource.RLIM_INFINITY}))
        try:
            with output_folder(Path({str(tmp_path / "out")!r}), "clf-test") as tmp:
                (tmp / "big").write_bytes(b"x" * 100_000)
        except Exception as exc:
            print(type(exc).__name__, exc)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("OutputError cannot write the output"), out
    assert "File too large" in out.stdout and out.stdout.count("\n") == 1
    assert os.listdir(tmp_path) == []
