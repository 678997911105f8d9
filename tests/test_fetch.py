"""data fetch against a real HTTP server on 127.0.0.1 that the tests start: a whole download,
a connection cut mid-file then resumed by Range, a corrupted archive, no network, bad archives;
after each failure, one line and no dataset folder. The real sources are checked for form."""

from __future__ import annotations

import hashlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from harness.fetch import DEFAULT_SOURCES, PARTIAL_DIR, FetchError, fetch, load_sources
from harness.registry import load_registry
from tests.helpers.cli import main_captured
from tests.helpers.pecos_layout import NAMES, TEST, TRAIN, tar_gz, write_pecos


class Handler(BaseHTTPRequestHandler):
    """Serves ``server.files``; ``server.mode`` = ok, cut (half the body, then hang up) or
    norange (ignores Range); every request's Range header is kept in ``server.ranges``."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        srv = self.server
        body = srv.files.get(self.path)
        srv.ranges.append(self.headers.get("Range"))
        if body is None:
            self.send_error(404, "no such file")
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and srv.mode != "norange":
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_error(416, "range not satisfiable")
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        payload = body[start:]
        if srv.mode == "cut":
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.files, srv.mode, srv.ranges = {}, "ok", []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> bytes:
    root = tmp_path_factory.mktemp("arc")
    write_pecos(root / "xmc-base" / "tiny", TRAIN, TEST, NAMES)
    return tar_gz(root)


def sources_file(tmp_path: Path, url: str, sha: str | None, **extra) -> Path:
    spec = {"url": url, "sha256": sha, "folder": "xmc-base/tiny", "layout": "pecos", **extra}
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump({"tiny": spec}))
    return path


def url_of(srv, path: str = "/tiny.tar.gz") -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}{path}"


def no_dataset_left(data: Path) -> None:
    """Neither the dataset folder nor any temporary unpack folder exists."""
    assert not (data / "tiny").exists()
    assert not [p for p in data.glob(".tiny.*")] if data.exists() else True


def one_line(code: int, err: str, *needles: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in lines[0], err


def test_fetch_downloads_checks_unpacks_and_the_dataset_loads(server, archive, tmp_path, capsys):
    server.files["/tiny.tar.gz"] = archive
    sha = hashlib.sha256(archive).hexdigest()
    src = sources_file(tmp_path, url_of(server), sha)
    data = tmp_path / "data"
    argv = ["data", "fetch", "tiny", "--sources", str(src), "--data-dir", str(data)]
    code, out, err = main_captured([*argv, "--no-progress"])
    assert code == 0, err
    assert f"sha256 {sha}" in out and "--dataset pecos" in out
    assert sorted(p.name for p in (data / "tiny").iterdir()) == [
        ".fetch.json",
        "X.trn.txt",
        "X.tst.txt",
        "Y.trn.npz",
        "Y.tst.npz",
        "output-items.txt",
    ]
    assert not (data / PARTIAL_DIR).exists()  # the archive is removed once unpacked
    corpus = load_registry().build("dataset", "pecos", {"data_dir": str(data / "tiny")}).load()
    assert corpus.label_names == NAMES and len(corpus.train) == len(TRAIN)
    code, out, _ = main_captured([*argv, "--no-progress"])
    assert code == 0 and "already in" in out


def test_cut_connection_leaves_no_dataset_and_the_next_run_resumes(server, archive, tmp_path):
    server.files["/tiny.tar.gz"] = archive
    source = load_sources(
        sources_file(tmp_path, url_of(server), hashlib.sha256(archive).hexdigest())
    )["tiny"]
    data = tmp_path / "data"
    server.mode = "cut"
    with pytest.raises(FetchError, match="run the same command again to resume") as info:
        fetch(source, data)
    assert "\n" not in str(info.value)
    no_dataset_left(data)
    part = data / PARTIAL_DIR / "tiny.part"
    assert 0 < part.stat().st_size < len(archive)
    half = part.stat().st_size
    server.mode = "ok"
    result = fetch(source, data)
    assert server.ranges[-1] == f"bytes={half}-"  # resumed, not started over
    assert result.resumed_from == half and result.downloaded_bytes == len(archive) - half
    assert (data / "tiny" / "X.trn.txt").is_file()


def test_server_ignoring_range_restarts_cleanly(server, archive, tmp_path):
    server.files["/tiny.tar.gz"] = archive
    source = load_sources(
        sources_file(tmp_path, url_of(server), hashlib.sha256(archive).hexdigest())
    )["tiny"]
    data = tmp_path / "data"
    (data / PARTIAL_DIR).mkdir(parents=True)
    (data / PARTIAL_DIR / "tiny.part").write_bytes(b"stale bytes from elsewhere")
    server.mode = "norange"
    result = fetch(source, data)
    assert result.resumed_from == 0 and (data / "tiny" / "Y.tst.npz").is_file()


def test_corrupted_archive_fails_the_checksum_and_is_deleted(server, archive, tmp_path, capsys):
    bad = bytearray(archive)
    bad[len(bad) // 2] ^= 0xFF
    server.files["/tiny.tar.gz"] = bytes(bad)
    src = sources_file(tmp_path, url_of(server), hashlib.sha256(archive).hexdigest())
    data = tmp_path / "data"
    argv = ["data", "fetch", "tiny", "--sources", str(src), "--data-dir", str(data)]
    code, _, err = main_captured([*argv, "--no-progress"])
    one_line(code, err, "sha256", "does not match", "deleted")
    no_dataset_left(data)
    assert not list((data / PARTIAL_DIR).glob("*"))


def test_no_network_is_one_line(tmp_path, capsys):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    src = sources_file(tmp_path, f"http://127.0.0.1:{port}/tiny.tar.gz", None)
    data = tmp_path / "data"
    code, _, err = main_captured(
        ["data", "fetch", "tiny", "--sources", str(src), "--data-dir", str(data), "--no-progress"],
    )
    one_line(code, err, "cannot reach the server", "network")
    no_dataset_left(data)


@pytest.mark.parametrize(
    ("payload", "needle"),
    [(b"this is not a tar archive at all", "not a readable tar"), (None, "no folder holding")],
)
def test_unusable_archives_leave_nothing(server, tmp_path, payload, needle):
    if payload is None:  # a real archive without the layout
        root = tmp_path / "other"
        (root / "xmc-base" / "tiny").mkdir(parents=True)
        (root / "xmc-base" / "tiny" / "README").write_text("nothing here")
        payload = tar_gz(root)
    server.files["/tiny.tar.gz"] = payload
    source = load_sources(sources_file(tmp_path, url_of(server), None))["tiny"]
    data = tmp_path / "data"
    with pytest.raises(FetchError, match=needle):
        fetch(source, data)
    no_dataset_left(data)
    assert not list((data / PARTIAL_DIR).glob("*"))


def test_missing_checksum_is_reported_not_skipped(server, archive, tmp_path, capsys):
    server.files["/tiny.tar.gz"] = archive
    src = sources_file(tmp_path, url_of(server), None)
    data = tmp_path / "data"
    base = ["data", "fetch", "tiny", "--sources", str(src), "--data-dir", str(data)]
    code, _, err = main_captured([*base, "--require-checksum", "--no-progress"])
    one_line(code, err, "no sha256 is recorded", "--require-checksum")
    no_dataset_left(data)
    code, out, err = main_captured([*base, "--no-progress"])
    assert code == 0
    assert (
        f"no sha256 is recorded for tiny: this download's is {hashlib.sha256(archive).hexdigest()}"
        in err
    )


def test_http_error_and_unknown_name(server, tmp_path, capsys):
    src = sources_file(tmp_path, url_of(server, "/missing.tar.gz"), None)
    data = tmp_path / "data"
    base = ["data", "fetch", "--sources", str(src), "--data-dir", str(data), "--no-progress"]
    code, _, err = main_captured([*base, "tiny"])
    one_line(code, err, "HTTP 404")
    code, _, err = main_captured([*base, "nope"])
    one_line(code, err, "unknown dataset 'nope'", "tiny")


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ({"url": "ftp://x/y.tar.gz"}, r"http\(s\) address"),
        ({"sha256": "abc"}, "64 hex"),
        ({"folder": "../../etc"}, "relative path"),
        ({"layout": "mystery"}, "layout must be"),
    ],
)
def test_bad_sources_files_are_named(tmp_path, spec, needle):
    base = {"url": "https://h/x.tar.gz", "sha256": None, "folder": "a", "layout": "pecos"}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"tiny": {**base, **spec}}))
    with pytest.raises(FetchError, match=needle) as info:
        load_sources(path)
    assert str(path) in str(info.value)


def test_published_sources_have_the_expected_form():
    """The real addresses are configuration, never contacted by the tests."""
    sources = load_sources(DEFAULT_SOURCES)
    assert set(sources) == {"eurlex-4k", "wiki10-31k", "amazoncat-13k"}
    for name, s in sources.items():
        assert s.url == f"https://archive.org/download/pecos-dataset/xmc-base/{name}.tar.gz"
        assert s.folder == f"xmc-base/{name}" and s.layout == "pecos"
        assert s.sha256 is None or len(s.sha256) == 64
