from types import SimpleNamespace

import tensorflow as tf

from {{ cookiecutter.package_name }}.data import text_ops, text_sources


def write_vocabulary(tmp_path, words):
    path = tmp_path / text_ops.VOCABULARY_FILE
    path.write_text("\n".join([text_ops.PAD_TOKEN, text_ops.OOV_TOKEN, *words]) + "\n")
    return path


def test_standardize_lowercases_drops_punctuation_and_folds_long_numbers():
    texts = tf.constant(["Hello, World!", "ÉTÉ déjà-vu", "Call 0800123 for 2 £1500"])
    assert text_ops.standardize_text(texts).numpy().tolist() == [
        b"hello  world ",
        "été déjà vu".encode(),
        "call 000 for 2 £000".encode(),
    ]


def test_tokenize_pads_truncates_and_maps_unknown_words(tmp_path):
    table = text_ops.make_vocabulary_table(write_vocabulary(tmp_path, ["one", "two"]))
    ids = text_ops.tokenize(tf.constant(["Two one", "one two zebra one two", "?!"]), table, 4)
    assert ids.dtype == tf.int32
    assert ids.numpy().tolist() == [[3, 2, 0, 0], [2, 3, 1, 2], [1, 0, 0, 0]]


def test_tokenize_is_the_same_for_one_text_a_batch_and_in_map(tmp_path):
    table = text_ops.make_vocabulary_table(write_vocabulary(tmp_path, ["one", "two"]))
    texts = ["one, TWO", "two"]
    batch = text_ops.tokenize(tf.constant(texts), table, 3).numpy().tolist()
    single = text_ops.tokenize(tf.constant(texts[0]), table, 3).numpy().tolist()
    mapped = tf.data.Dataset.from_tensor_slices(texts).map(
        lambda text: text_ops.tokenize(text, table, 3)
    )
    assert single == batch[0] == [2, 3, 0]
    assert [ids.tolist() for ids in mapped.as_numpy_iterator()] == batch


def test_example_fn_reads_the_vocabulary_of_the_assets_dir(tmp_path):
    write_vocabulary(tmp_path, ["one"])
    example_fn = text_ops.make_example_fn(SimpleNamespace(sequence_length=2), tmp_path)
    assert example_fn(tf.constant("One Nine")).numpy().tolist() == [2, 1]


def test_vocabulary_counts_words_most_frequent_first():
    texts = [b"b a", b"A c, a", b"b"]
    vocabulary = text_sources.build_vocabulary(texts, max_size=10, min_count=1)
    assert vocabulary == [text_ops.PAD_TOKEN, text_ops.OOV_TOKEN, "a", "b", "c"]
    assert text_sources.build_vocabulary(texts, max_size=3, min_count=1)[2:] == ["a"]
    assert text_sources.build_vocabulary(texts, max_size=10, min_count=2)[2:] == ["a", "b"]
