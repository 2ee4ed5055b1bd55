"""TFLite (LiteRT) files of a model: conversion, with quantization, and running them.

export.py writes and checks ``model.tflite`` with these; LiteRT's own interpreter runs it
where ``ai-edge-litert`` is installed (the ``litert`` extra), TensorFlow's deprecated one
elsewhere. Checked by:

    python -m pytest tests/test_serving.py
"""

import logging
import tempfile
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from . import cli

log = logging.getLogger(__name__)


def tflite_interpreter(content: bytes, delegates: bool = True) -> object:
    """LiteRT's interpreter (pip install ai-edge-litert, the .[litert] extra), or TensorFlow's
    own, deprecated one where LiteRT is not installed; with or without the default delegate
    (XNNPACK)."""
    try:
        from ai_edge_litert import interpreter as litert

        interpreter, resolvers = litert.Interpreter, litert.OpResolverType
    except ImportError:
        interpreter, resolvers = tf.lite.Interpreter, tf.lite.experimental.OpResolverType
    resolver = resolvers.AUTO if delegates else resolvers.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    with cli.quiet_tensorflow():
        return interpreter(model_content=content, experimental_op_resolver_type=resolver)


def run(content: bytes, inputs: np.ndarray, batch_size: int = 64) -> tuple[np.ndarray, bool]:
    """The .tflite's outputs (probabilities) for `inputs`, in batches, and whether LiteRT's
    default delegate (XNNPACK) ran them; without it, with a warning, where it cannot (e.g. an
    int8 LSTM)."""
    try:
        return invoke_tflite(tflite_interpreter(content), inputs, batch_size), True
    except RuntimeError:
        log.warning(
            "LiteRT's default delegate (XNNPACK) cannot run this model; checked without it. An "
            "app must create its interpreter without default delegates too (see README.md)."
        )
    return invoke_tflite(tflite_interpreter(content, delegates=False), inputs, batch_size), False


def invoke_tflite(interpreter: object, inputs: np.ndarray, batch_size: int) -> np.ndarray:
    (input_detail,) = interpreter.get_input_details()
    (output_detail,) = interpreter.get_output_details()
    outputs = []
    for start in range(0, len(inputs), batch_size):
        batch = inputs[start : start + batch_size].astype(input_detail["dtype"])
        interpreter.resize_tensor_input(input_detail["index"], batch.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(input_detail["index"], batch)
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(output_detail["index"]).copy())
    return np.concatenate(outputs)


def convert(
    function: Callable,
    signature: list[tf.TensorSpec],
    resources: Sequence[object],
    quantization: str,
    calibration: np.ndarray,
) -> bytes:
    """Converts `function` (of `resources`' variables) to TFLite through a Keras export archive
    (a plain SavedModel can silently convert to NaNs), quantized as asked: none, dynamic (int8
    weights), float16 (half-size weights) or int8 (weights and activations, calibrated on
    `calibration`, a few hundred training inputs)."""
    archive = keras.export.ExportArchive()
    for resource in resources:
        archive.track(resource)
    archive.add_endpoint("serve", function, signature)
    with tempfile.TemporaryDirectory() as archive_dir:
        archive.write_out(archive_dir, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(archive_dir, signature_keys=["serve"])
        if quantization != "none":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantization == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if quantization == "int8":
            converter.representative_dataset = lambda: (
                [example[np.newaxis]] for example in calibration
            )
        try:
            with cli.quiet_tensorflow():
                return converter.convert()
        except Exception as error:
            raise ValueError(
                f"This model cannot be converted to TFLite ({str(error).strip().splitlines()[0]}); "
                "export without export.tflite=true."
            ) from error
