"""The text ops, each eagerly and inside tf.data.Dataset.map: they differ more than you think."""

import tensorflow as tf

from {{ cookiecutter.package_name }}.data import text_ops


def test_standardize_lowercases_drops_punctuation_and_folds_long_numbers():
    texts = tf.constant(["Hello, World!", "ÉTÉ déjà-vu", "Call 0800123 for 2 £1500", "?!", ""])
    assert text_ops.standardize_text(texts).numpy().tolist() == [
        b"hello  world ",
        "été déjà vu".encode(),
        "call 000 for 2 £000".encode(),
        b"[UNK]",  # no words: one unknown word
        b"[UNK]",
    ]


def test_vectorizer_pads_cuts_and_maps_unknown_words_for_a_batch_and_in_map(tmp_path):
    vocabulary = [text_ops.PAD_TOKEN, text_ops.OOV_TOKEN, "one", "two"]
    (tmp_path / text_ops.VOCABULARY_FILE).write_text("\n".join(vocabulary) + "\n")
    vectorizer = text_ops.make_vectorizer(tmp_path / text_ops.VOCABULARY_FILE, 4)
    texts = ["Two one", "one, TWO zebra one two", "?!"]
    expected = [[3, 2, 0, 0], [2, 3, 1, 2], [1, 0, 0, 0]]
    assert vectorizer(tf.constant(texts)).numpy().tolist() == expected
    in_map = tf.data.Dataset.from_tensor_slices(texts).batch(2).map(vectorizer).unbatch()
    assert [ids.tolist() for ids in in_map.as_numpy_iterator()] == expected
    example_fn = text_ops.make_example_fn(None)  # the model takes the text itself
    assert example_fn(tf.constant(texts[0])).numpy() == texts[0].encode()
