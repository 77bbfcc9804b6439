"""Reading an artifact's files as untrusted input: confined to the folder and checked before use.

Artifacts are downloaded, copied between machines and received from others, so the runtime reads
only what the manifest names, each name a plain file name inside the artifact folder (a symbolic
link is followed only when it resolves inside the folder), and each file is compared with its
recorded size before it is read and with its sha256 on the very bytes that are then used.

A name that leads outside the folder is refused with a message that says nothing about what lies
there (not whether it exists, not its size): a manifest must not be a way to probe the machine.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import stat
from pathlib import Path

from clf_runtime.artifact import MANIFEST_NAME, MAX_MANIFEST_BYTES, Manifest, check_file_name, parse_manifest
from clf_runtime.errors import ArtifactError


def artifact_root(folder: Path) -> Path:
    """The artifact folder with links resolved, or an ArtifactError saying how to get one."""
    folder = Path(folder)
    try:
        root = folder.resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        raise ArtifactError(
            f"model folder {folder} does not exist: pass --model DIR, set CLF_MODEL, "
            "or create it with clf-export"
        ) from None
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop on Python 3.10-3.12
        raise ArtifactError(f"cannot open the model folder {folder}: {_reason(exc)}") from None
    if not root.is_dir():
        raise ArtifactError(f"{folder} is not a folder: pass the artifact folder written by clf-export")
    return root


def _reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__


def confined(root: Path, name: str, what: str = "") -> Path:
    """root/name with links resolved, refused unless it stays inside root."""
    check_file_name(name, f"{root}")
    try:
        path = (root / name).resolve()
    except (OSError, RuntimeError):
        path = None  # a link loop: refused below like any other escape
    if path is None or root not in path.parents:
        raise ArtifactError(
            f"{root / name} ({what or 'named in the manifest'}) is a link that does not resolve to a file "
            "inside the artifact folder; clf reads only files inside it: put the file itself in the folder"
        )
    return path


def _open_regular(root: Path, name: str, what: str) -> tuple[int, int]:
    """An open read-only descriptor of a regular file inside root, and its size."""
    path = confined(root, name, what)
    shown = root / name
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)  # a FIFO must not hang
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        if name == "clf.json":
            raise ArtifactError(
                f"{root} has no clf.json: it is not a clf artifact; export one with clf-export"
            ) from None
        raise ArtifactError(f"{shown} is missing: copy the whole artifact folder or re-export it") from None
    except OSError as exc:
        raise ArtifactError(f"cannot read {shown}: {_reason(exc)}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise ArtifactError(f"{shown} is not a regular file: copy the whole artifact folder or re-export it")
    return fd, info.st_size


def read_confined(root: Path, name: str, limit: int, what: str = "") -> bytes:
    """The bytes of root/name (a file of at most `limit` bytes), with no checksum to compare."""
    fd, size = _open_regular(root, name, what)
    with os.fdopen(fd, "rb") as f:
        if size > limit:
            raise ArtifactError(f"{root / name} is larger than {limit} bytes: it is not a clf manifest")
        try:
            return f.read(limit + 1)
        except OSError as exc:
            raise ArtifactError(f"cannot read {root / name}: {_reason(exc)}") from None


def _check_size(root: Path, manifest: Manifest, name: str, size: int) -> None:
    entry = manifest.files.get(name)
    if entry is None:
        raise ArtifactError(
            f"the model refers to {name}, which clf.json does not list with a checksum: "
            "the artifact was changed after export; re-export the model"
        )
    if size != entry.bytes:
        raise ArtifactError(
            f"{root / name} is {size} bytes, the manifest says {entry.bytes}: the file is truncated "
            "or replaced; copy it again or re-export the model"
        )


def _check_hash(root: Path, manifest: Manifest, name: str, data: bytes | mmap.mmap) -> None:
    if hashlib.sha256(data).hexdigest() != manifest.files[name].sha256:
        raise ArtifactError(
            f"{root / name} does not match its sha256 in clf.json: the file was modified; "
            "copy it again or re-export the model"
        )


def read_verified(root: Path, manifest: Manifest, name: str, verify: bool = True) -> bytes:
    """The bytes of a file the manifest lists, after checking its size and (verify) its sha256."""
    fd, size = _open_regular(root, name, "")
    with os.fdopen(fd, "rb") as f:
        _check_size(root, manifest, name, size)
        try:
            data = f.read(size + 1)
        except OSError as exc:
            raise ArtifactError(f"cannot read {root / name}: {_reason(exc)}") from None
    if len(data) != size:
        raise ArtifactError(f"{root / name} changed while it was read: copy it again")
    if verify:
        _check_hash(root, manifest, name, data)
    return data


def map_verified(root: Path, manifest: Manifest, name: str, verify: bool = True) -> bytes | mmap.mmap:
    """Like read_verified, but memory-mapped: for ONNX external data, which can be gigabytes."""
    fd, size = _open_regular(root, name, "")
    try:
        _check_size(root, manifest, name, size)
        if size == 0:
            return b""
        try:
            data = mmap.mmap(fd, size, access=mmap.ACCESS_READ)
        except OSError as exc:
            raise ArtifactError(f"cannot read {root / name}: {_reason(exc)}") from None
    finally:
        os.close(fd)
    if verify:
        _check_hash(root, manifest, name, data)
    return data


def load_manifest(folder: Path) -> Manifest:
    """Read and validate `folder/clf.json`."""
    root = artifact_root(Path(folder))
    data = read_confined(root, MANIFEST_NAME, MAX_MANIFEST_BYTES, what="its manifest")
    return parse_manifest(data, str(Path(folder) / MANIFEST_NAME))


def verify_files(folder: Path, manifest: Manifest, names: list[str]) -> None:
    """Check that each named file is inside `folder` with the size and sha256 the manifest recorded."""
    root = artifact_root(Path(folder))
    for name in names:
        read_verified(root, manifest, name)
