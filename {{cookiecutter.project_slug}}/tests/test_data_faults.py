"""The data faults this project promises to survive, one case each: preprocessing succeeds (its
check says what came out) or stops with one error that names the file or row and the fix."""

{% if cookiecutter.model_type == "cnn" -%}
import base64
{% endif -%}
import os
import re
{%- if cookiecutter.model_type == "cnn" %}
import shutil
{%- endif %}
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
{%- if cookiecutter.model_type == "cnn" %}
from helpers import make_folder, total, write_image
{%- else %}
from helpers import HAM, SPAM, total, write_text_folder
{%- endif %}

from {{ cookiecutter.package_name }}.data import preprocess_data

{% if cookiecutter.model_type == "cnn" -%}
# A 3x4 grey lossless WebP (TensorFlow reads WebP but cannot write it).
TINY_WEBP = base64.b64decode("UklGRh4AAABXRUJQVlA4TBEAAAAvA4AAAAdQrWpVq/+BiOh/AAA=")


def write_data(root: Path, classes=("cat", "dog")) -> list[str]:
    """A folder of 6 images per class; returns the config overrides."""
    make_folder(root, classes)
    return ["data=image_folder", f"data.path={root}", "data.image_size=[16,16]"]


def bad_folder(root: Path, layout: str) -> list[str]:
    """A folder laid out wrong: "missing", "flat" (no class folders) or "empty-class"."""
    write_image(root / ("001.png" if layout == "flat" else "cat/001.png"), 10)
    if layout == "empty-class":
        (root / "dog").mkdir()
    return ["data=image_folder", f"data.path={root / 'nowhere' if layout == 'missing' else root}"]


def left_out_files(root):
    overrides = write_data(root)
    for index in range(4):  # read: images in sub-folders of a class folder
        write_image(root / "dog" / "2024" / "june" / f"{index}.png", 200 + index)
    (root / "cat" / "scan.tif").write_bytes(b"II*\x00")
    (root / "dog" / "photo.heic").write_bytes(b"\x00\x00\x00\x18ftypheic")
    (root / "dog" / ".DS_Store").write_bytes(b"\x00")
    (root / "dog" / "extra.webp").write_bytes(TINY_WEBP)  # WebP is read
    write_image(root / ".hidden" / "000.png", 10)  # a class folder?
    write_image(root / "stray.png", 10)  # in no class folder
    os.mkfifo(root / "cat" / "pipe.png")  # a read would never end
    (root / "cat" / "up").symlink_to("..")  # a loop
    return overrides


LEFT_OUT = (  # what preprocessing does not read, and why, in one warning
    r"leaving out 7 entries: \.hidden \(hidden\), cat/pipe\.png \(not a regular file.*\), "
    r"cat/scan\.tif \(not \.png/.*\), cat/up \(a link to a folder read already: a loop\), "
    r"dog/\.DS_Store \(hidden\), dog/photo\.heic .* stray\.png \(not in a class folder\)\."
)


def unreadable_images(root, *skip_invalid):
    overrides = write_data(root)
    png = (root / "cat" / "000.png").read_bytes()
    (root / "cat" / "broken.png").write_bytes(png[: len(png) // 2])  # truncated
    (root / "dog" / "empty.jpg").write_bytes(b"")
    return [*overrides, *skip_invalid]


def unseen_test_label(root):
    make_folder(root / "test", classes=("cat", "dog", "fox"), per_class=2, first=6)
    return [*write_data(root / "train"), f"data.test_path={root / 'test'}"]


FAULTS = {  # how to write the data: the error, or (the examples read, what the log says)
    "missing-folder": (lambda root: bad_folder(root, "missing"), "nowhere does not exist"),
    "flat-folder": (lambda root: bad_folder(root, "flat"), "has no class sub-folders. Expected"),
    "empty-class": (lambda root: bad_folder(root, "empty-class"), r"\['dog'\] hold no"),
    "one-class": (
        lambda root: write_data(root, classes=("cat",)),
        r"has only one class, \['cat'\]: a classifier needs at least two",
    ),
    "unseen-test-label": (unseen_test_label, r"test_path has the label\(s\) \['fox'\]"),
    "nested-and-left-out-files": (left_out_files, (17, LEFT_OUT)),
    "test-copy-of-train": (
        lambda root: [*write_data(root), f"data.test_path={shutil.copytree(root, f'{root}2')}"],
        r"data.test_path overlaps data.path=\S+: 12 test file\(s\) .* e\.g\. \S+2/cat/000\.png",
    ),
    "unreadable-images": (
        unreadable_images,
        r"2 image file\(s\) cannot be read: \S*broken\.png \(Invalid PNG data, size \d+\); "
        r"\S*empty\.jpg \(.*\)\. Fix or remove them, or set data.skip_invalid=true\.",
    ),
    "unreadable-images-skipped": (
        lambda root: unreadable_images(root, "data.skip_invalid=true"),
        (12, r"cannot be read: \S*broken\.png .*empty\.jpg .*Leaving them out"),
    ),
}
{%- else -%}
ROWS = [(text.replace(",", ""), "ham") for text in HAM * 3]  # without commas: written unquoted
ROWS += [(text.replace(",", ""), "spam") for text in SPAM * 3]


def write_csv(path: Path, lines: list[str]) -> list[str]:
    """Writes CSV lines as they are (no quoting); returns the config overrides."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ["data=csv", f"data.path={path}", "data.sequence_length=8"]


def write_data(root: Path, classes=("ham", "spam")) -> list[str]:
    """A folder of 6 texts per class; returns the config overrides."""
    write_text_folder(root, classes)
    return ["data=text_folder", f"data.path={root}", "data.sequence_length=8"]


def csv_lines(*extra: str) -> list[str]:
    return ["text,label", *(f"{text},{label}" for text, label in ROWS), *extra]


def ragged_rows(root):
    lines = csv_lines()
    lines[3] = "well, see you at lunch,ham"  # line 4: three fields
    lines[5] = "call me when you land"  # line 6: one field
    return write_csv(root / "t.csv", lines)


def unseen_test_label(root):
    write_csv(root / "test.csv", ["text,label", "hello,ham", "buy now,promo"])
    return [*write_csv(root / "t.csv", csv_lines()), f"data.test_path={root / 'test.csv'}"]


def latin1_csv(root):
    overrides = write_csv(root / "t.csv", [])
    (root / "t.csv").write_bytes("\n".join(csv_lines("café crème,ham")).encode("latin-1"))
    return overrides


def damaged_folder(root, damage):
    overrides = write_data(root, classes=("ham", "spam")[: 1 if damage == "empty-class" else 2])
    (root / "spam").mkdir(exist_ok=True)
    if damage == "empty-file":
        (root / "ham" / "blank.txt").write_text("\n")
    if damage == "latin1":
        (root / "ham" / "café.txt").write_bytes("café crème".encode("latin-1"))
    if damage == "nested":
        (root / "spam" / "2024").mkdir()
        (root / "spam" / "2024" / "late.txt").write_text("free cash now", encoding="utf-8")
        (root / "ham" / "notes.md").write_text("# not a text example", encoding="utf-8")
    return overrides


FAULTS = {  # how to write the data: the error, or (the examples read, what the log says)
    "missing-file": (lambda root: ["data=csv", f"data.path={root}/t.csv"], "t.csv does not exist"),
    "csv-is-a-folder": (
        lambda root: ["data=csv", f"data.path={root.parent}"],  # tmp_path
        r"is a folder; data=csv reads one CSV file",
    ),
    "no-column": (
        lambda root: [*write_csv(root / "t.csv", csv_lines()), "data.text_column=body"],
        r"no column 'body'; its columns are \['text', 'label'\]. Set data.text_column",
    ),
    "one-class": (
        lambda root: write_csv(root / "t.csv", [x for x in csv_lines() if "spam" not in x]),
        r"data.path=\S*t.csv\) has only one class, \['ham'\]: a classifier",
    ),
    "one-class-folder": (
        lambda root: write_data(root, classes=("ham",)),
        r"has only one class, \['ham'\]",
    ),
    "ragged-rows": (
        ragged_rows,
        r"t.csv: 2 row\(s\) differ from the header's 2 fields .* the first at line 4 "
        r"\(3 fields\)\. Quote a text that holds the delimiter",
    ),
    "no-label": (
        lambda root: write_csv(root / "t.csv", csv_lines("hello,")),
        r"t.csv: 1 row\(s\) have no 'label' label, the first at line 26\. Label or remove them",
    ),
    "empty-texts": (
        lambda root: write_csv(root / "t.csv", csv_lines("  ,ham", ",spam")),
        r"2 example\(s\) have an empty text, the first at data.path=\S*t.csv line 26\. Fill",
    ),
    "empty-texts-skipped": (
        lambda root: [*write_csv(root / "t.csv", csv_lines(",ham")), "data.skip_invalid=true"],
        (24, "the first at data.path="),
    ),
    "unseen-test-label": (unseen_test_label, r"test_path has the label\(s\) \['promo'\]"),
    "test-copy-of-train": (
        lambda root: [*write_csv(root / "t.csv", csv_lines()), f"data.test_path={root}/t.csv"],
        r"data.test_path overlaps data.path=\S+: 1 test file\(s\) .* e\.g\. \S+/t\.csv:",
    ),
    "header-only": (lambda root: write_csv(root / "t.csv", ["text,label"]), "t.csv has no rows"),
    "empty-csv": (lambda root: write_csv(root / "t.csv", [""]), r"t.csv is empty\. Expected a"),
    "not-utf8-csv": (latin1_csv, r"t.csv line 26 is not UTF-8 text \(.*\); save it as UTF-8"),
    "semicolons-with-commas-in-texts": (
        lambda root: write_csv(root / "t.csv", ["text;label", *(f"{x}, ok;{y}" for x, y in ROWS)]),
        (24, ""),
    ),
    "field-over-128-kb": (
        lambda root: write_csv(root / "t.csv", csv_lines(f"{'free cash ' * 20000},spam")),
        (25, ""),
    ),
    "empty-class-folder": (lambda root: damaged_folder(root, "empty-class"), r"\['spam'\] hold"),
    "empty-text-file": (lambda root: damaged_folder(root, "empty-file"), "the first is .*blank"),
    "not-utf8-text-file": (lambda root: damaged_folder(root, "latin1"), "café.txt is not UTF-8"),
    "nested-text-folders": (lambda root: damaged_folder(root, "nested"), (13, "ham/notes.md")),
}
{%- endif %}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_data_fault_is_survived_or_explained(make_config, tmp_path, caplog, fault):
    write, expected = FAULTS[fault]
    cfg = make_config(*write(tmp_path / "data"))
    if isinstance(expected, str):
        with pytest.raises((ValueError, FileNotFoundError), match=expected):
            preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    else:
        _, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
        assert total(metadata) == expected[0], metadata.counts
        assert re.search(expected[1], caplog.text), caplog.text


@pytest.mark.parametrize("name", ["train.tfrecord", "metadata.json"])
def test_damaged_records_are_named_and_written_again(make_config, caplog, name):
    cfg = make_config()
    records_dir, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    path = Path(records_dir, name)
    data = path.read_bytes()  # bytes overwritten, or cut short
    path.write_bytes(data[:100] + (b"\xff" * 64 + data[164:] if name.endswith("record") else b""))
    assert preprocess_data.ensure_preprocessed(cfg.data, cfg.seed) == (records_dir, metadata)
    assert f"{path} is damaged or cut short: preprocessing again." in caplog.text
    assert preprocess_data.read_metadata(records_dir) == metadata  # read whole


def test_a_second_preprocess_waits_for_the_first_then_reuses_its_records(make_config):
    cfg = make_config()
    records_dir = preprocess_data.records_path(cfg.data, cfg.seed)
    with ThreadPoolExecutor() as pool, preprocess_data.records_lock(records_dir):  # the first
        second = pool.submit(preprocess_data.ensure_preprocessed, cfg.data, cfg.seed)
        time.sleep(2)
        assert not second.done()  # waits
        metadata = preprocess_data.preprocess(cfg.data, cfg.seed)
    assert second.result() == (records_dir, metadata) and not os.path.exists(f"{records_dir}.lock")
