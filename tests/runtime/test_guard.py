"""command_errors(): what the OS causes in clf-train and clf-export is one line, unless CLF_DEBUG=1."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from clf_runtime.cli import user_errors as command_errors


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--decode", is_flag=True)
def tool(path: Path, decode: bool) -> None:
    with command_errors():
        if decode:
            path.read_bytes().decode("utf-8")
        else:
            path.write_text("x")


def test_os_errors_are_one_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("CLF_DEBUG", raising=False)
    result = CliRunner().invoke(tool, [str(tmp_path)])
    assert result.exit_code == 1
    assert result.output == f"Error: failed on {tmp_path}: Is a directory; it is a folder; give a file path\n"
    result = CliRunner().invoke(tool, [str(tmp_path / "no" / "such")])
    assert result.exit_code == 1 and "No such file or directory; check the path" in result.output
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9")
    result = CliRunner().invoke(tool, [str(tmp_path / "latin1.txt"), "--decode"])
    assert result.exit_code == 1
    assert (
        result.output.startswith("Error: a file is not valid UTF-8 (byte 3")
        and result.output.count("\n") == 1
    )


def test_clf_debug_shows_the_traceback(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CLF_DEBUG", "1")
    result = CliRunner().invoke(tool, [str(tmp_path)])
    assert result.exit_code == 1 and isinstance(result.exception, IsADirectoryError)
    with pytest.raises(IsADirectoryError):
        tool.main([str(tmp_path)], standalone_mode=False)
