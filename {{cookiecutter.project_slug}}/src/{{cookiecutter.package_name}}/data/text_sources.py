"""Text sources: each returns raw examples for preprocess_data; nothing is downloaded.

A source is a function ``(data_cfg, seed) -> (raw_inputs, labels, class_names)`` where each
raw input is UTF-8 text and each label an index into ``class_names``.

    {{ cookiecutter.package_name }}-preprocess data=digit_sentences
"""

import os
from collections import Counter

import numpy as np
import tensorflow as tf
from omegaconf import DictConfig

from . import input_ops

RawExamples = tuple[list[bytes], list[int], list[str]]

DIGIT_WORDS = ["Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine"]


def digit_sentences(data_cfg: DictConfig, seed: int) -> RawExamples:
    """Sentences of 3 to 6 digit words, all odd ("One Seven Three") or all even.

    The sequence-classification task of *Learning TensorFlow*, chapter 6.
    """
    rng = np.random.default_rng(seed)
    class_names = ["even", "odd"]
    digits_by_label = [[2, 4, 6, 8], [1, 3, 5, 7, 9]]
    raw_inputs, labels = [], []
    for index in range(data_cfg.num_examples):
        label = index % 2
        digits = rng.choice(digits_by_label[label], size=rng.integers(3, 7))
        sentence = " ".join(DIGIT_WORDS[digit] for digit in digits)
        raw_inputs.append(sentence.encode("utf-8"))
        labels.append(label)
    return raw_inputs, labels, class_names


def synthetic(data_cfg: DictConfig, seed: int) -> RawExamples:
    """Tiny random sentences in three classes, each marked by one keyword among filler words."""
    rng = np.random.default_rng(seed)
    class_names = ["apple", "banana", "cherry"]
    filler = [f"w{number}" for number in range(20)]
    raw_inputs, labels = [], []
    for index in range(data_cfg.num_examples):
        label = index % len(class_names)
        words = list(rng.choice(filler, size=rng.integers(2, 6)))
        words.insert(int(rng.integers(0, len(words) + 1)), class_names[label].title())
        raw_inputs.append(" ".join(words).encode("utf-8"))
        labels.append(label)
    return raw_inputs, labels, class_names


SOURCES = {"digit_sentences": digit_sentences, "synthetic": synthetic}


def build_vocabulary(train_texts: list[bytes], max_size: int, min_count: int) -> list[str]:
    """Returns the vocabulary of the training texts, most frequent words first.

    Words are split with the same ops the model's input uses (input_ops.split_words); ties
    are broken alphabetically, so the same texts always give the same vocabulary. The list
    starts with the padding and out-of-vocabulary tokens.
    """
    counts = Counter()
    for start in range(0, len(train_texts), 1024):
        words = input_ops.split_words(tf.constant(train_texts[start : start + 1024]))
        counts.update(word.decode("utf-8") for word in words.flat_values.numpy())
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    words = [word for word, count in ranked if count >= min_count]
    return [input_ops.PAD_TOKEN, input_ops.OOV_TOKEN, *words[: max(max_size - 2, 0)]]


def summarize(train_inputs: list[bytes], data_cfg: DictConfig, assets_dir: str) -> dict:
    """Builds the vocabulary of the train split, writes it to assets_dir, describes it.

    Returns:
        The sequence length, vocabulary size and file, and the model inputs for metadata.json.
    """
    vocabulary = build_vocabulary(train_inputs, data_cfg.max_vocab_size, data_cfg.min_word_count)
    path = os.path.join(assets_dir, input_ops.VOCABULARY_FILE)
    with tf.io.gfile.GFile(path + ".tmp", "w") as vocabulary_file:
        vocabulary_file.write("\n".join(vocabulary) + "\n")
    tf.io.gfile.rename(path + ".tmp", path, overwrite=True)
    return {
        "sequence_length": data_cfg.sequence_length,
        "vocab_size": len(vocabulary),
        "vocabulary_file": input_ops.VOCABULARY_FILE,
        "model_inputs": {
            "sequence_length": data_cfg.sequence_length,
            "vocab_size": len(vocabulary),
        },
    }
