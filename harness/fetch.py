"""Downloading a public dataset archive into the data folder, safely.

``fetch(source, data_dir)`` gets ``source.url`` into ``<data_dir>/.fetch/<name>.part``,
resuming an earlier partial download with an HTTP ``Range`` request, checks the file against
the recorded SHA-256, unpacks it into a temporary folder beside the target, checks that the
dataset layout is there, and renames the dataset folder into ``<data_dir>/<name>`` in one
step. So ``<data_dir>/<name>`` is either absent or complete: a cut connection leaves only the
``.part`` file (the next run resumes it), a wrong checksum deletes it, and every failure removes
the temporary folder. Each failure is a :class:`FetchError` with a one-line message.

Where no checksum is recorded (``sha256: null``), the download is not silently trusted: the
result carries the computed sum and a warning to record it, and ``require_checksum`` turns
the missing sum into an error. The sources are configuration (``harness/downloads.yaml``,
or any YAML file of the same form).

The standard library's ``urllib`` does the HTTP (no extra dependency for one GET with a
``Range`` header); ``tarfile``'s ``data`` filter refuses absolute paths, ``..`` and links that
would land outside the folder.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import tarfile
import time
import urllib.error
import urllib.request
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from harness.errors import ConfigError, HarnessError

DEFAULT_SOURCES = Path(__file__).resolve().parent / "downloads.yaml"
PARTIAL_DIR = ".fetch"
MANIFEST = ".fetch.json"
CHUNK = 1 << 20
LAYOUTS = {
    "pecos": ("X.trn.txt", "X.tst.txt", "Y.trn.npz", "Y.tst.npz"),
}
"""Files each dataset layout must hold once unpacked."""
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class FetchError(HarnessError):
    """A download or unpack that did not complete; nothing partial is left as a dataset."""


@dataclass(frozen=True)
class Source:
    """One downloadable dataset: where it is, its checksum, and what the archive holds."""

    name: str
    url: str
    sha256: str | None
    folder: str
    layout: str
    size: int | None = None


@dataclass
class FetchResult:
    """What ``fetch`` did: the dataset folder, the archive's SHA-256, and any warning."""

    path: Path
    sha256: str | None
    downloaded_bytes: int
    resumed_from: int
    already_there: bool = False
    warning: str | None = None


def load_sources(path: str | Path | None = None) -> dict[str, Source]:
    """The sources of a YAML file (default :data:`DEFAULT_SOURCES`), checked for form."""
    path = Path(path) if path is not None else DEFAULT_SOURCES
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FetchError(f"{path}: cannot read the sources file ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise FetchError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict) or not raw:
        raise FetchError(f"{path}: expected a mapping of dataset names to sources")
    return {str(name): _source(path, str(name), spec) for name, spec in raw.items()}


def _source(path: Path, name: str, spec: object) -> Source:
    where = f"{path}: {name}"
    if not _NAME.match(name):
        raise FetchError(f"{where}: names are lower-case letters, digits, '.', '_' and '-'")
    if not isinstance(spec, dict):
        raise FetchError(f"{where}: expected url, sha256, folder and layout")
    url = spec.get("url")
    if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+/\S+$", url):
        raise FetchError(f"{where}: url must be an http(s) address, got {url!r}")
    sha = spec.get("sha256")
    if sha is not None and (not isinstance(sha, str) or not _SHA256.match(sha.lower())):
        raise FetchError(f"{where}: sha256 must be 64 hex digits or null, got {sha!r}")
    folder = spec.get("folder", ".")
    pure = PurePosixPath(str(folder))
    if pure.is_absolute() or ".." in pure.parts:
        raise FetchError(f"{where}: folder must be a relative path inside the archive")
    layout = spec.get("layout")
    if layout not in LAYOUTS:
        raise FetchError(f"{where}: layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    size = spec.get("size")
    if size is not None and (not isinstance(size, int) or size <= 0):
        raise FetchError(f"{where}: size must be a positive byte count or absent")
    return Source(name, url, sha.lower() if sha else None, str(pure), layout, size)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _describe(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return str(reason).strip() or type(exc).__name__


def download(
    url: str,
    part: Path,
    *,
    timeout: float = 60.0,
    progress: Callable[[int, int | None], None] | None = None,
) -> tuple[int, int]:
    """Get ``url`` into ``part``, resuming from its current size; returns (bytes fetched
    now, bytes the file started with). ``progress(done, total)`` hears of each chunk."""
    start = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "xmtc-harness"})
    if start:
        request.add_header("Range", f"bytes={start}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:  # nothing left to send: the file is already whole
            return 0, start
        raise FetchError(f"{url}: the server answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise FetchError(
            f"{url}: cannot reach the server ({_describe(exc)}); check the network connection"
        ) from None
    with response:
        if start and response.status != 206:
            start = 0  # the server ignored the range: start over
        length = response.headers.get("Content-Length")
        total = start + int(length) if length and length.isdigit() else None
        got = 0
        try:
            with open(part, "ab" if start else "wb") as fh:
                while True:
                    block = response.read(CHUNK)
                    if not block:
                        break
                    fh.write(block)
                    got += len(block)
                    if progress:
                        progress(start + got, total)
        except (http.client.HTTPException, ConnectionError, TimeoutError) as exc:
            raise FetchError(
                f"{url}: the download stopped at {start + got:,} of "
                f"{f'{total:,}' if total else 'an unknown number of'} bytes "
                f"({_describe(exc)}); run the same command again to resume"
            ) from None
        except OSError as exc:
            raise FetchError(f"{part}: cannot write the download ({exc.strerror or exc})") from None
    if total is not None and start + got < total:
        raise FetchError(
            f"{url}: the connection closed at {start + got:,} of {total:,} bytes; run the same "
            "command again to resume"
        )
    return got, start


def _unpack(archive: Path, into: Path, url: str) -> None:
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(into, filter="data")
    except tarfile.FilterError as exc:
        raise FetchError(f"{url}: the archive holds an unsafe entry ({exc})") from None
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise FetchError(f"{url}: not a readable tar archive ({_describe(exc)})") from None


def _dataset_folder(unpacked: Path, source: Source) -> Path:
    """The unpacked folder holding the layout: ``source.folder`` if it does, else the one
    folder in the archive that does."""
    wanted = LAYOUTS[source.layout]
    first = unpacked / source.folder
    if all((first / f).is_file() for f in wanted):
        return first
    found = [
        p.parent for p in unpacked.rglob(wanted[0]) if all((p.parent / f).is_file() for f in wanted)
    ]
    if len(found) == 1:
        return found[0]
    raise FetchError(
        f"{source.url}: the archive has no folder holding {', '.join(wanted)} "
        f"({source.layout} layout)"
    )


def fetch(
    source: Source,
    data_dir: str | Path,
    *,
    force: bool = False,
    require_checksum: bool = False,
    keep_archive: bool = False,
    timeout: float = 60.0,
    progress: Callable[[int, int | None], None] | None = None,
) -> FetchResult:
    """Download, check and unpack ``source`` into ``<data_dir>/<source.name>`` (see the module
    docstring for what each failure leaves behind)."""
    data_dir = Path(data_dir).expanduser()
    target = data_dir / source.name
    if target.exists() and not force:
        return FetchResult(target, None, 0, 0, already_there=True)
    if require_checksum and source.sha256 is None:
        raise ConfigError(
            "fetch.require_checksum",
            f"{source.name}: no sha256 is recorded for {source.url}; record one in the "
            "sources file, or fetch without requiring one",
        )
    partial = data_dir / PARTIAL_DIR
    try:
        partial.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetchError(f"{partial}: cannot create ({exc.strerror or exc})") from None
    part = partial / f"{source.name}.part"
    got, resumed = download(source.url, part, timeout=timeout, progress=progress)
    digest = file_sha256(part)
    if source.sha256 is not None and digest != source.sha256:
        part.unlink(missing_ok=True)
        raise FetchError(
            f"{source.url}: sha256 {digest[:16]}… does not match the recorded "
            f"{source.sha256[:16]}…; the download was deleted"
        )
    warning = None
    if source.sha256 is None:
        warning = (
            f"no sha256 is recorded for {source.name}: this download's is {digest}; "
            "record it in the sources file to check later downloads"
        )
    tmp = data_dir / f".{source.name}.unpack-{uuid.uuid4().hex[:8]}"
    old = data_dir / f".{source.name}.old-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
        try:
            _unpack(part, tmp, source.url)
            folder = _dataset_folder(tmp, source)
        except FetchError:
            part.unlink(missing_ok=True)  # complete but unusable: resuming cannot mend it
            raise
        manifest = {
            "name": source.name,
            "url": source.url,
            "sha256": digest,
            "sha256_recorded": source.sha256 is not None,
            "bytes": part.stat().st_size,
            "layout": source.layout,
            "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        if target.exists():  # fetching again: keep the old copy until the new one is in place
            os.replace(target, old)
        os.replace(folder, target)
    except OSError as exc:
        if old.exists() and not target.exists():
            os.replace(old, target)
        raise FetchError(f"{target}: cannot unpack here ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    if not keep_archive:
        part.unlink(missing_ok=True)
        try:
            partial.rmdir()
        except OSError:
            pass  # other partial downloads are still there
    return FetchResult(target, digest, got, resumed, warning=warning)
