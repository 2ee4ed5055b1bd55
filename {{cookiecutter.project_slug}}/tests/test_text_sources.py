"""Every text source, on files the tests write themselves (bad data: test_data_faults.py)."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import HAM, SPAM, peak_memory_of_preprocess, write_text_folder
from omegaconf import OmegaConf

from {{ cookiecutter.package_name }}.data import (
    data_loader,
    preprocess_data,
    text_ops,
    text_sources,
)

ROWS = [(text, "ham") for text in HAM * 3] + [(text, "spam") for text in SPAM * 3]


def write_csv(path, rows=ROWS, header=("text", "label"), delimiter=",", encoding="utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding=encoding) as csv_file:  # quotes what needs it
        csv.writer(csv_file, delimiter=delimiter).writerows([header, *rows])
    return path


def preprocess(make_config, *overrides):
    cfg = make_config("data=csv", "data.sequence_length=8", *overrides)
    return preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)


def all_texts(records_dir, metadata):
    texts = []
    for split in preprocess_data.SPLITS:
        texts += data_loader.read_raw_examples(records_dir, split, metadata, -1)[0]
    return sorted(text.decode("utf-8") for text in texts)


@pytest.mark.parametrize(
    "delimiter, encoding", [(",", "utf-8"), (";", "utf-8-sig"), ("\t", "utf-8"), ("|", "utf-8")]
)
def test_csv_dialects_are_read_identically(make_config, tmp_path, delimiter, encoding):
    rows = ROWS + [("two lines,\nwith a comma; a tab\t|", "ham"), ('say "hi"', "spam")]
    path = write_csv(tmp_path / "t.csv", rows, ("msg", "kind"), delimiter, encoding)
    columns = ["data.text_column=msg", "data.label_column=kind"]
    records_dir, metadata = preprocess(make_config, f"data.path={path}", *columns)
    assert metadata.class_names == ["ham", "spam"]
    assert all_texts(records_dir, metadata) == sorted(text for text, _ in rows)


def test_the_vocabulary_comes_from_the_training_split_most_frequent_first(make_config, tmp_path):
    texts = [b"b a", b"A c, a", b"b", b"d", b"?!"]  # a 3 times, b 2, c and d once, no word
    cases = [(10, 1, ["a", "b", "c", "d"]), (3, 1, ["a"]), (10, 2, ["a", "b"])]  # ties: a-z
    for size, min_count, words in cases:
        data_cfg = {"sequence_length": 4, "max_vocab_size": size, "min_word_count": min_count}
        summary = text_sources.TrainSummary(OmegaConf.create(data_cfg))
        for text in texts:
            summary.add(text, None)
        assert summary.metadata(str(tmp_path))["vocab_size"] == len(words) + 2
        vocabulary = (tmp_path / text_ops.VOCABULARY_FILE).read_text().split()
        assert vocabulary == [text_ops.PAD_TOKEN, text_ops.OOV_TOKEN, *words]

    train = write_csv(tmp_path / "train.csv")
    test = write_csv(tmp_path / "test.csv", [("zebra crossing", "ham"), ("zebra prize", "spam")])
    records_dir, metadata = preprocess(make_config, f"data.path={train}", f"data.test_path={test}")
    vocabulary = Path(records_dir, text_ops.VOCABULARY_FILE).read_text().split()
    assert metadata.counts["test"]["total"] == 2
    assert "zebra" not in vocabulary and "free" in vocabulary


def test_text_folder_reads_one_file_per_example(make_config, tmp_path):
    root, test_root = write_text_folder(tmp_path / "texts"), tmp_path / "texts_test"
    paths = [f"data.path={root}", f"data.test_path={write_text_folder(test_root, per_class=2)}"]
    cfg = make_config("data=text_folder", *paths, "data.allow_overlap=true")  # same texts
    records_dir, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    assert metadata.class_names == ["ham", "spam"]
    assert metadata.counts["test"]["per_class"] == {"ham": 2, "spam": 2}
    assert set(all_texts(records_dir, metadata)) == set(HAM + SPAM)


def test_imdb_reads_its_cached_archive_back_into_text(make_config, tmp_path):
    cache = tmp_path / "keras" / "datasets"
    cache.mkdir(parents=True)
    words = {"great": 1, "film": 2, "awful": 3, "plot": 4}
    (cache / "imdb_word_index.json").write_text(json.dumps(words))
    sequences = np.empty(20, dtype=object)  # 1 marks the start; ids are the word index + 3
    sequences[:] = [[1, 4, 5] if index % 2 else [1, 6, 7] for index in range(20)]
    labels = np.arange(20) % 2
    splits = {"x_train": sequences, "y_train": labels, "x_test": sequences[:8]}
    np.savez(cache / "imdb.npz", **splits, y_test=labels[:8])
    cfg = make_config("data=imdb", f"data.download_dir={tmp_path / 'keras'}")
    records_dir, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    assert metadata.class_names == ["negative", "positive"]
    assert metadata.counts["test"]["total"] == 8
    test_split = data_loader.read_raw_examples(records_dir, "test", metadata, 8)
    assert set(zip(*test_split, strict=True)) == {(b"great film", 1), (b"awful plot", 0)}


@pytest.mark.full  # preprocesses 20 MB and 40 MB of CSV, each in a new process: about 30 s
def test_preprocess_memory_does_not_grow_with_the_size_of_the_csv(run_module, tmp_path):
    rng = np.random.default_rng(0)
    words = np.array(HAM[0].split() + SPAM[0].split())
    texts = [" ".join(rng.choice(words, 400)) for _ in range(100)]  # about 2 KB each
    for count in (10000, 20000):
        rows = [(texts[index % 100], ("ham", "spam")[index % 2]) for index in range(count)]
        write_csv(tmp_path / f"{count}.csv", rows)
    peaks = [
        peak_memory_of_preprocess(run_module.env, "csv", tmp_path / f"{count}.csv")
        for count in (10000, 20000)
    ]
    # 20 MB more CSV; code that held the file, its rows and their texts grew by 100 MB.
    assert peaks[1] - peaks[0] < 40e6, [f"{peak / 1e6:.0f} MB" for peak in peaks]
