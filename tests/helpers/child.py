"""Run a function in a forked child of the test process: as an unprivileged user (so file
permissions hold even when the tests run as root, as CI does), or under a file-size limit
(a disk that fills up: ``RLIMIT_FSIZE``, whose signal Python ignores, so the write fails
with an error exactly where a full disk would fail it).

A forked child shares everything this process has already imported, so it needs no access
to the interpreter's files; call the function once in the parent first (on a copy) when it
imports something on first use.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import stat
import tempfile
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

NOBODY = 65534


def run_in_child(
    fn: Callable[[], Any], *, unprivileged: bool = False, max_file_bytes: int | None = None
) -> Any:
    """``fn()`` in a forked child; its (JSON-able) result, or an AssertionError carrying the
    child's traceback. ``unprivileged``: as user/group 65534 (nobody) when running as root;
    ``max_file_bytes``: no file may grow past this many bytes."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 0
        try:
            os.close(read_end)
            if max_file_bytes is not None:
                _soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
                resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, hard))
            if unprivileged and os.geteuid() == 0:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            payload = {"result": fn()}
        except BaseException:  # noqa: BLE001 - reported to the parent
            payload = {"error": traceback.format_exc()}
            status = 1
        try:
            with os.fdopen(write_end, "wb") as out:
                out.write(json.dumps(payload, default=str).encode())
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as inp:
        data = inp.read()
    os.waitpid(pid, 0)
    payload = json.loads(data or b'{"error": "the child wrote nothing"}')
    if "error" in payload:
        raise AssertionError(f"in the child:\n{payload['error']}")
    return payload["result"]


@contextmanager
def shared_folder() -> Iterator[Path]:
    """A temporary folder an unprivileged user can reach (pytest's own are private to
    root); removed afterwards whatever permissions the test left on its contents."""
    root = Path(tempfile.mkdtemp(prefix="xmtc-shared-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        for path in [root, *root.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                path.chmod(path.stat().st_mode | stat.S_IRWXU)
        shutil.rmtree(root, ignore_errors=True)


def listing(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` and its bytes (what must not change)."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }
