"""reuters21578: the real SGML collection, its search path, download and malformed input."""

from __future__ import annotations

import http.server
import io
import re
import tarfile
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import DatasetNotFoundError, InputError
from plugins.datasets._common import BadLines
from plugins.datasets.reuters21578 import ReutersReader, safe_extract

# Measured on the UCI distribution (reut2-000.sgm .. reut2-021.sgm, 21,578 documents).
TRAIN_DOCS, TEST_DOCS, LABELS, TRAIN_LABELS = 13124, 5777, 429, 405
COLLECTION_DOCS, COLLECTION_LABELLED, COLLECTION_LABELS = 21578, 19621, 444


@pytest.fixture(scope="module")
def corpus(reuters_dir: Path):
    return ReutersReader(data_dir=str(reuters_dir)).load()


def test_lewis_split_sizes_and_labels(corpus) -> None:
    assert (len(corpus.train), len(corpus.test), corpus.n_labels) == (TRAIN_DOCS, TEST_DOCS, LABELS)
    assert int((corpus.label_counts > 0).sum()) == TRAIN_LABELS
    assert corpus.meta["collection"] == {
        "documents": COLLECTION_DOCS,
        "labelled_with_text": COLLECTION_LABELLED,
        "labels": COLLECTION_LABELS,
    }
    dropped = corpus.meta["dropped"]
    assert dropped["not-used"] == COLLECTION_LABELLED - TRAIN_DOCS - TEST_DOCS
    assert dropped["no-labels"] + dropped["empty-text"] == COLLECTION_DOCS - COLLECTION_LABELLED
    assert corpus.skipped == {}


def test_labels_prefixed_by_field_and_text_decoded(corpus) -> None:
    prefixes = {n.split(":", 1)[0] for n in corpus.label_names}
    assert prefixes == {"topics", "places", "people", "orgs", "exchanges"}
    assert corpus.label_names == sorted(corpus.label_names)
    first = corpus.train[0]  # NEWID 1: BAHIA COCOA REVIEW
    assert first.doc_id == "reuters21578-1"
    assert first.text.startswith("BAHIA COCOA REVIEW\nShowers continued")
    names = {corpus.label_names[i] for i in first.labels}
    assert names == {"topics:cocoa", "places:el-salvador", "places:usa", "places:uruguay"}
    texts = [d.text for d in corpus.train + corpus.test]
    assert not any("&lt;" in t or "&#" in t for t in texts)
    assert not any(re.search(r"[\x00-\x08\x0b-\x1f\x7f]", t) for t in texts)
    assert any("<" in t for t in texts)  # &lt; became <
    assert all(d.labels and d.text for d in corpus.train + corpus.test)


def test_doc_ids_are_stable_and_unique(corpus, reuters_dir: Path) -> None:
    ids = [d.doc_id for d in corpus.train + corpus.test]
    assert len(set(ids)) == len(ids)
    # A reload of one file gives the same ids for the same documents.
    one = ReutersReader(data_dir=str(reuters_dir))
    parsed = list(one._read_file(reuters_dir / "reut2-000.sgm", BadLines(False), Counter(), {}))
    assert parsed[0].doc_id == "reuters21578-1"


# -- locating the files ---------------------------------------------------------------------


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No data anywhere on the search path: empty cwd, cache and $XMTC_DATA_DIR."""
    work = tmp_path / "cwd" / "inner"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XMTC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("XMTC_OFFLINE", raising=False)
    return tmp_path


def test_not_found_offline_names_every_folder(isolated: Path, monkeypatch) -> None:
    monkeypatch.setenv("XMTC_OFFLINE", "1")
    with pytest.raises(DatasetNotFoundError) as info:
        ReutersReader().load()
    msg = str(info.value)
    for folder in (
        isolated / "data" / "reuters21578",
        isolated / "cwd" / "inner" / "data" / "reuters21578",
        isolated / "cache" / "xmtc-harness" / "reuters21578",
    ):
        assert str(folder) in msg
    assert "--data-dir" in msg and "XMTC_DATA_DIR" in msg and "offline" in msg
    assert "reuters21578.tar.gz" in msg


def test_explicit_data_dir_without_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match=re.escape(str(tmp_path))):
        ReutersReader(data_dir=str(tmp_path), offline=True).load()


def test_search_order_env_then_cwd(isolated: Path, reuters_dir: Path) -> None:
    target = isolated / "cwd" / "inner" / "data" / "reuters21578"
    target.mkdir(parents=True)
    (target / "reut2-000.sgm").write_bytes((reuters_dir / "reut2-000.sgm").read_bytes())
    reader = ReutersReader(offline=True)
    assert reader.locate() == target.absolute()
    env_target = isolated / "data" / "reuters21578"
    env_target.mkdir(parents=True)
    (env_target / "reut2-001.sgm").write_bytes((reuters_dir / "reut2-001.sgm").read_bytes())
    assert reader.locate() == env_target
    assert ReutersReader(data_dir=str(isolated / "data")).locate() == env_target  # parent ok


def _tarball(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real local HTTP server over a folder: (base URL, folder)."""
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a) -> None:  # keep test output clean
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


def test_download_into_cache(isolated: Path, http_root, reuters_dir: Path) -> None:
    base, www = http_root
    sgm = (reuters_dir / "reut2-014.sgm").read_bytes()  # the one file with TRAIN and TEST
    (www / "r.tar.gz").write_bytes(_tarball({"reut2-014.sgm": sgm, "README.txt": b"hi"}))
    corpus = ReutersReader(url=f"{base}/r.tar.gz").load()
    cache = isolated / "cache" / "xmtc-harness" / "reuters21578"
    assert (cache / "reut2-014.sgm").read_bytes() == sgm
    assert corpus.meta["root"] == str(cache) and len(corpus.train) + len(corpus.test) > 400
    # second load finds the cache without the server
    assert ReutersReader(url=f"{base}/missing.tar.gz", offline=True).locate() == cache


def test_download_failure_says_where_to_put_files(isolated: Path, http_root) -> None:
    base, _ = http_root
    with pytest.raises(DatasetNotFoundError) as info:
        ReutersReader(url=f"{base}/missing.tar.gz").load()
    assert "failed" in str(info.value) and "--data-dir" in str(info.value)


def test_download_refuses_path_escape(isolated: Path, http_root) -> None:
    base, www = http_root
    (www / "evil.tar.gz").write_bytes(_tarball({"../../evil.sgm": b"x", "reut2-000.sgm": b"x"}))
    with pytest.raises(DatasetNotFoundError, match="unsafe archive member"):
        ReutersReader(url=f"{base}/evil.tar.gz").load()
    assert not list(isolated.rglob("evil.sgm"))


def test_safe_extract_refuses_links_and_absolute_paths(tmp_path: Path) -> None:
    for name, kind in (("/etc/x", tarfile.REGTYPE), ("link", tarfile.SYMTYPE)):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = "/etc/passwd" if kind == tarfile.SYMTYPE else ""
            tar.addfile(info, io.BytesIO(b""))
        archive = tmp_path / f"{kind!r}.tar"
        archive.write_bytes(buf.getvalue())
        with pytest.raises(InputError, match="unsafe"):
            safe_extract(archive, tmp_path / "out")
    (tmp_path / "junk.tar").write_bytes(b"not a tar")
    with pytest.raises(InputError, match="not a readable tar"):
        safe_extract(tmp_path / "junk.tar", tmp_path / "out")


# -- malformed SGML ------------------------------------------------------------------------


def doc(
    newid: int, split: str = "TRAIN", topics: str = "<D>cocoa</D>", body: str = "Body text."
) -> str:
    return (
        f'<REUTERS TOPICS="YES" LEWISSPLIT="{split}" CGISPLIT="TRAINING-SET" OLDID="1" '
        f'NEWID="{newid}">\n<DATE>26-FEB-1987</DATE>\n<TOPICS>{topics}</TOPICS>\n'
        "<PLACES><D>usa</D></PLACES>\n<PEOPLE></PEOPLE>\n<ORGS></ORGS>\n"
        "<EXCHANGES></EXCHANGES>\n<COMPANIES></COMPANIES>\n"
        f"<TEXT>&#2;\n<TITLE>TITLE {newid} &lt;X&gt;</TITLE>\n<BODY>{body}\n&#3;</BODY></TEXT>\n"
        "</REUTERS>\n"
    )


def sgml_dir(tmp_path: Path, content: str | bytes, name: str = "reut2-000.sgm") -> Path:
    root = tmp_path / "sgml"
    root.mkdir(exist_ok=True)
    data = content.encode("latin-1") if isinstance(content, str) else content
    (root / name).write_bytes(data)
    return root


def load(root: Path, skip: bool = False):
    return ReutersReader(data_dir=str(root), skip_bad_lines=skip).load()


def error(root: Path) -> InputError:
    with pytest.raises(InputError) as info:
        load(root)
    return info.value


HEAD = '<!DOCTYPE lewis SYSTEM "lewis.dtd">\n'
TEST_DOC = doc(999, "TEST")  # appended where a file must load: both splits need a document


def test_small_file_parses(tmp_path: Path) -> None:
    root = sgml_dir(tmp_path, HEAD + doc(1) + doc(2, "TEST") + doc(3, "NOT-USED"))
    corpus = load(root)
    assert [d.doc_id for d in corpus.train] == ["reuters21578-1"]
    assert corpus.train[0].text == "TITLE 1 <X>\nBody text."
    assert corpus.label_names == ["places:usa", "topics:cocoa"]
    assert corpus.meta["dropped"] == {"not-used": 1}


def test_bad_split_attribute(tmp_path: Path) -> None:
    root = sgml_dir(tmp_path, HEAD + doc(1) + doc(2, "DEV") + TEST_DOC)
    err = error(root)
    assert err.path == str(root / "reut2-000.sgm") and err.line == 15
    assert f"{root / 'reut2-000.sgm'}:15: LEWISSPLIT" in str(err)
    corpus = load(root, skip=True)
    assert corpus.skipped == {"bad-attributes": 1} and len(corpus.train) == 1


def test_unclosed_and_nested_documents(tmp_path: Path) -> None:
    broken = doc(2).replace("</REUTERS>\n", "")
    root = sgml_dir(tmp_path, HEAD + doc(1) + broken + doc(3) + TEST_DOC)
    err = error(root)
    assert err.line == 27 and "before the document opened at line 15" in str(err)
    corpus = load(root, skip=True)
    assert [d.doc_id for d in corpus.train] == ["reuters21578-1", "reuters21578-3"]
    root = sgml_dir(tmp_path, HEAD + doc(1) + broken)
    err = error(root)
    assert err.line == 15 and "never closed" in str(err)


def test_malformed_category_field(tmp_path: Path) -> None:
    root = sgml_dir(tmp_path, HEAD + doc(1, topics="<D>cocoa</TOPICS>"))
    err = error(root)
    assert err.line == 4 and "TOPICS" in str(err)
    root = sgml_dir(tmp_path, HEAD + doc(1, topics="<D>cocoa</D>stray"))
    err = error(root)
    assert err.line == 4 and "stray" in str(err)


def test_duplicate_newid_across_files(tmp_path: Path) -> None:
    root = sgml_dir(tmp_path, HEAD + doc(1))
    sgml_dir(tmp_path, HEAD + doc(1), name="reut2-001.sgm")
    err = error(root)
    assert err.path == str(root / "reut2-001.sgm") and err.line == 2
    assert "reut2-000.sgm:2" in str(err)


def test_text_outside_documents_and_empty_file(tmp_path: Path) -> None:
    root = sgml_dir(tmp_path, HEAD + doc(1) + "garbage here\n")
    err = error(root)
    assert err.line == 15 and "outside" in str(err)
    root = sgml_dir(tmp_path, HEAD)
    err = error(root)
    assert err.line == 1 and "no <REUTERS> documents" in str(err)


def test_mixed_encodings_decode(tmp_path: Path) -> None:
    utf8 = doc(1, body="Zurich Z\u00fcrich\x07").encode("utf-8")
    latin = doc(2, body="M\u00fcnchen").encode("latin-1")
    corpus = load(sgml_dir(tmp_path, HEAD.encode() + utf8 + latin + TEST_DOC.encode()))
    assert corpus.train[0].text.endswith("Z\u00fcrich") and corpus.train[1].text.endswith(
        "M\u00fcnchen"
    )


def test_empty_and_unlabelled_documents_dropped(tmp_path: Path) -> None:
    empty = doc(2).replace("<TITLE>TITLE 2 &lt;X&gt;</TITLE>", "").replace("Body text.", "  ")
    unlabelled = doc(3, topics="").replace("<D>usa</D>", "")
    corpus = load(sgml_dir(tmp_path, HEAD + doc(1) + empty + unlabelled + TEST_DOC))
    assert len(corpus.train) == 1
    assert corpus.meta["dropped"] == {"empty-text": 1, "no-labels": 1, "not-used": 0}


def test_hundred_thousand_word_document(tmp_path: Path) -> None:
    body = "\n".join(" ".join(["grain"] * 100) for _ in range(1000))
    corpus = load(sgml_dir(tmp_path, HEAD + doc(1, body=body) + TEST_DOC))
    assert len(corpus.train[0].words) == 100_000 + 5  # title: TITLE 1 < X >
