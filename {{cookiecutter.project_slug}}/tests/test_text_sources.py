"""Every text source and every bad-data case, on files the tests write themselves."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import peak_memory_of_preprocess, shared_data

from {{ cookiecutter.package_name }}.data import (
    data_loader,
    preprocess_data,
)

HAM = ["see you at lunch", "call me when you land", "thanks, that works", "ok see you soon"]
SPAM = ["WIN a free prize now", "claim your free cash", "free entry, text WIN", "cash prize!"]


def write_csv(path, rows, delimiter=",", bom=False, header=("text", "label")):
    def quote(field):
        return '"' + field.replace('"', '""') + '"' if any(c in field for c in '",;\n') else field

    lines = [delimiter.join(header)] + [delimiter.join(quote(f) for f in row) for row in rows]
    path.write_text(("\ufeff" if bom else "") + "\r\n".join(lines) + "\r\n", encoding="utf-8")
    return path


def labelled_rows(copies=3):
    return [(text, "ham") for text in HAM * copies] + [(text, "spam") for text in SPAM * copies]


def preprocess(make_config, *overrides):
    cfg = make_config("data=csv", "data.sequence_length=8", *overrides)
    return preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)


def all_texts(records_dir, metadata):
    texts = []
    for split in preprocess_data.SPLITS:
        count = metadata.counts[split]["total"]
        texts += data_loader.read_raw_examples(records_dir, split, metadata, count)[0]
    return sorted(text.decode("utf-8") for text in texts)


def test_csv_with_bom_quotes_commas_and_newlines(make_config, tmp_path):
    rows = labelled_rows() + [("two lines,\nwith a comma", "ham"), ('say "hi"', "spam")]
    path = write_csv(tmp_path / "sms.csv", rows, bom=True)
    records_dir, metadata = preprocess(make_config, f"data.path={path}")
    assert metadata.class_names == ["ham", "spam"]
    assert all_texts(records_dir, metadata) == sorted(text for text, _ in rows)


def test_csv_with_another_delimiter_and_column_names(make_config, tmp_path):
    path = write_csv(tmp_path / "t.csv", labelled_rows(), delimiter=";", header=("msg", "kind"))
    _, metadata = preprocess(
        make_config, f"data.path={path}", "data.text_column=msg", "data.label_column=kind"
    )
    assert sum(count["total"] for count in metadata.counts.values()) == 24


def test_csv_without_the_column_lists_its_columns(make_config, tmp_path):
    path = write_csv(tmp_path / "t.csv", labelled_rows(), header=("message", "label"))
    with pytest.raises(
        ValueError, match=r"no column 'text'; its columns are \['message', 'label'\]"
    ):
        preprocess(make_config, f"data.path={path}")


def test_empty_texts_are_named_or_skipped(make_config, tmp_path):
    path = write_csv(tmp_path / "t.csv", labelled_rows() + [("  ", "ham"), ("", "spam")])
    with pytest.raises(
        ValueError, match=r"2 example\(s\) have an empty text: t.csv row 26, t.csv row 27"
    ):
        preprocess(make_config, f"data.path={path}")
    _, metadata = preprocess(make_config, f"data.path={path}", "data.skip_invalid=true")
    assert sum(count["total"] for count in metadata.counts.values()) == 24


def test_rows_without_a_label_are_refused(make_config, tmp_path):
    path = write_csv(tmp_path / "t.csv", labelled_rows() + [("hello", "")])
    with pytest.raises(ValueError, match="have no 'label' label: t.csv row 26"):
        preprocess(make_config, f"data.path={path}")


def test_a_missing_csv_is_explained(make_config, tmp_path):
    with pytest.raises(FileNotFoundError, match="data.path=.*nowhere.csv does not exist"):
        preprocess(make_config, f"data.path={tmp_path / 'nowhere.csv'}")


def test_a_test_csv_with_an_unseen_label_is_refused(make_config, tmp_path):
    train = write_csv(tmp_path / "train.csv", labelled_rows())
    test = write_csv(tmp_path / "test.csv", [("hello", "ham"), ("buy now", "promo")])
    with pytest.raises(ValueError, match=r"label\(s\) \['promo'\]"):
        preprocess(make_config, f"data.path={train}", f"data.test_path={test}")


def test_the_vocabulary_comes_from_the_training_split_only(make_config, tmp_path):
    train = write_csv(tmp_path / "train.csv", labelled_rows())
    test = write_csv(tmp_path / "test.csv", [("zebra crossing", "ham"), ("zebra prize", "spam")])
    records_dir, metadata = preprocess(make_config, f"data.path={train}", f"data.test_path={test}")
    vocabulary = Path(records_dir, "vocab.txt").read_text().split()
    assert metadata.counts["test"]["total"] == 2
    assert "zebra" not in vocabulary and "free" in vocabulary


def write_text_folder(root, per_class=6):
    for label, texts in (("ham", HAM), ("spam", SPAM)):
        (root / label).mkdir(parents=True)
        for index in range(per_class):
            (root / label / f"{index}.txt").write_text(texts[index % 4], encoding="utf-8")
    return root


def test_text_folder_reads_one_file_per_example(make_config, tmp_path):
    root = write_text_folder(tmp_path / "texts")
    test_root = write_text_folder(tmp_path / "texts_test", per_class=2)
    cfg = make_config(
        "data=text_folder",
        f"data.path={root}",
        f"data.test_path={test_root}",
        "data.sequence_length=8",
    )
    _, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    assert metadata.class_names == ["ham", "spam"]
    assert metadata.counts["test"]["per_class"] == {"ham": 2, "spam": 2}


@pytest.mark.parametrize(
    "damage, message",
    [
        ("empty-class", r"\['spam'\] hold no"),
        ("empty-file", "empty text"),
        ("latin1", "not UTF-8"),
    ],
)
def test_bad_text_folders_are_explained(make_config, tmp_path, damage, message):
    root = write_text_folder(tmp_path / "texts")
    if damage == "empty-class":
        for path in (root / "spam").iterdir():
            path.unlink()
    if damage == "empty-file":
        (root / "ham" / "blank.txt").write_text("\n")
    if damage == "latin1":
        (root / "ham" / "café.txt").write_bytes("café crème".encode("latin-1"))
    cfg = make_config("data=text_folder", f"data.path={root}")
    with pytest.raises(ValueError, match=message):
        preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)


def test_imdb_reads_its_cached_archive_back_into_text(make_config, tmp_path):
    cache = tmp_path / "keras" / "datasets"
    cache.mkdir(parents=True)
    words = {"great": 1, "film": 2, "awful": 3, "plot": 4}
    (cache / "imdb_word_index.json").write_text(json.dumps(words))
    good, bad = [1, 4, 5], [1, 6, 7]  # 1 marks the start; ids are the word index + 3
    sequences = np.empty(20, dtype=object)
    sequences[:] = [good if index % 2 else bad for index in range(20)]
    labels = np.arange(20) % 2
    np.savez(
        cache / "imdb.npz",
        x_train=sequences,
        y_train=labels,
        x_test=sequences[:8],
        y_test=labels[:8],
    )

    cfg = make_config(
        "data=imdb", f"data.download_dir={tmp_path / 'keras'}", "data.min_word_count=1"
    )
    records_dir, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    assert metadata.class_names == ["negative", "positive"]
    assert metadata.counts["test"]["total"] == 8
    assert set(all_texts(records_dir, metadata)) == {"great film", "awful plot"}


def test_shared_sms_csv_preprocesses(make_config):
    path = shared_data("sms-spam/sms_spam.csv")
    cfg = make_config("data=csv", f"data.path={path}")
    _, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    counts = metadata.counts
    assert sum(count["total"] for count in counts.values()) == 5574
    assert sum(count["per_class"]["spam"] for count in counts.values()) == 747


@pytest.mark.full  # preprocesses 20 MB and 40 MB of CSV, each in a new process: about 30 s
def test_preprocess_memory_does_not_grow_with_the_size_of_the_csv(run_module, tmp_path):
    rng = np.random.default_rng(0)
    words = np.array(HAM[0].split() + SPAM[0].split())
    texts = [" ".join(rng.choice(words, 400)) for _ in range(100)]  # about 2 KB each
    for count in (10000, 20000):
        rows = [(texts[index % 100], ("ham", "spam")[index % 2]) for index in range(count)]
        write_csv(tmp_path / f"{count}.csv", rows)
    peaks = [
        peak_memory_of_preprocess(
            run_module.env,
            "data=csv",
            f"data.path={tmp_path / f'{count}.csv'}",
            f"data.records_dir={tmp_path / str(count)}",
        )
        for count in (10000, 20000)
    ]
    # 20 MB more CSV; code that held the file, its rows and their texts grew by 100 MB.
    assert peaks[1] - peaks[0] < 40e6, [f"{peak / 1e6:.0f} MB" for peak in peaks]
