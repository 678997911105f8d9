"""Small valid datasets in each file format a built-in reader takes, written by the tests."""

from __future__ import annotations

from pathlib import Path

TOPIC_WORDS = {
    "grain": "wheat harvest corn crop farmers",
    "oil": "crude barrels refinery pipeline drilling",
    "gold": "bullion ounce mine metal price",
}


def _docs(n: int, offset: int) -> list[tuple[str, list[str]]]:
    names = sorted(TOPIC_WORDS)
    out = []
    for i in range(n):
        labels = [names[(i + offset) % 3]] + ([names[(i + offset + 1) % 3]] if i % 2 else [])
        out.append((" ".join(TOPIC_WORDS[t] for t in labels) + f" report {i}", labels))
    return out


def write_xc_raw(folder: Path, n_train: int = 6, n_test: int = 3) -> Path:
    """AttentionXML's raw-text layout: ``{train,test}_texts.txt`` and ``_labels.txt``."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, off in (("train", n_train, 0), ("test", n_test, 1)):
        docs = _docs(n, off)
        (folder / f"{split}_texts.txt").write_text("".join(t + "\n" for t, _ in docs))
        (folder / f"{split}_labels.txt").write_text("".join(" ".join(ls) + "\n" for _, ls in docs))
    return folder


def write_aplc_csv(folder: Path, n_train: int = 6, n_test: int = 3) -> Path:
    """APLC-XLNet's layout: ``train.csv``, ``dev.csv`` (id, text, labels) and ``labels.txt``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, n, off in (("train.csv", n_train, 0), ("dev.csv", n_test, 1)):
        rows = ["id,text,label"]
        rows += [f'{i},{t},"{",".join(ls)}"' for i, (t, ls) in enumerate(_docs(n, off))]
        (folder / name).write_text("\n".join(rows) + "\n")
    (folder / "labels.txt").write_text("\n".join(sorted(TOPIC_WORDS)) + "\n")
    return folder


def write_xc_bow(folder: Path) -> Path:
    """The Extreme Classification Repository's sparse format (header, ``labels feat:value``)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.txt").write_text("4 10 3\n0,2 3:0.5 7:0.9\n1 1:2.0 2:3.0\n2 9:1\n0 4:1 5:2\n")
    (folder / "test.txt").write_text("2 10 3\n2 4:0.1\n0,1 5:1.5 6:0.2\n")
    return folder
