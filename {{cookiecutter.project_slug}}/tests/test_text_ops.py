"""The text ops, each eagerly and inside tf.data.Dataset.map: they differ more than you think."""

from types import SimpleNamespace

import tensorflow as tf

from {{ cookiecutter.package_name }}.data import text_ops


def test_standardize_lowercases_drops_punctuation_and_folds_long_numbers():
    texts = tf.constant(["Hello, World!", "ÉTÉ déjà-vu", "Call 0800123 for 2 £1500"])
    assert text_ops.standardize_text(texts).numpy().tolist() == [
        b"hello  world ",
        "été déjà vu".encode(),
        "call 000 for 2 £000".encode(),
    ]


def test_example_fn_pads_cuts_and_maps_unknown_words_for_a_text_a_batch_and_in_map(tmp_path):
    vocabulary = [text_ops.PAD_TOKEN, text_ops.OOV_TOKEN, "one", "two"]
    (tmp_path / text_ops.VOCABULARY_FILE).write_text("\n".join(vocabulary) + "\n")
    example_fn = text_ops.make_example_fn(SimpleNamespace(sequence_length=4), tmp_path)
    texts = ["Two one", "one, TWO zebra one two", "?!"]  # no words: one unknown word
    expected = [[3, 2, 0, 0], [2, 3, 1, 2], [1, 0, 0, 0]]
    batch = example_fn(tf.constant(texts))
    assert batch.dtype == tf.int32 and batch.numpy().tolist() == expected
    assert [example_fn(tf.constant(text)).numpy().tolist() for text in texts] == expected
    in_map = tf.data.Dataset.from_tensor_slices(texts).map(example_fn).as_numpy_iterator()
    assert [ids.tolist() for ids in in_map] == expected
