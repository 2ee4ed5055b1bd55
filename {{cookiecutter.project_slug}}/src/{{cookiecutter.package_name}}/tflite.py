"""The export's ``model.tflite`` for LiteRT (phones, microcontrollers): what it takes,
conversion with quantization, running it, and the check export.py makes of it.
{% if cookiecutter.model_type == "cnn" %}
The ``.tflite`` takes uint8 images [N, height, width, channels] of a fixed size (the data's
stored size, or the model's input size where stored sizes vary) and normalises them inside:
``predict_image.tflite_pixels`` makes them of an image file.
{%- else %}
The ``.tflite`` takes word ids, int32 [N, sequence_length] (TFLite has no string ops):
``predict_text.token_ids`` makes them of texts and the export's assets/vocab.txt without
TensorFlow.
{%- endif %}
LiteRT's own interpreter runs it where ``ai-edge-litert`` is installed (the ``litert`` extra),
TensorFlow's deprecated one elsewhere. Checked by:

    python -m pytest tests/test_tflite.py
"""

import logging
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from omegaconf import DictConfig

from . import cli
{%- if cookiecutter.model_type == "cnn" %}
from .data import image_ops
from .data.metadata import Metadata
from .predict_image import tflite_pixels
{%- else %}
from .data import text_ops
from .data.metadata import Metadata
from .predict_text import token_ids
{%- endif %}

log = logging.getLogger(__name__)

FILE = "model.tflite"
{%- if cookiecutter.model_type == "cnn" %}
# What export/<version>/README.md tells a client of the .tflite's input.
INPUT_NOTE = (
    "Give it uint8 pixels of its input's shape, e.g. from an image file with "
    "`predict_image.tflite_pixels(file_bytes, shape)` (decoded, resized when its size "
    "differs); the normalisation is inside the model."
)


def input_size(metadata: Metadata) -> list[int]:
    """[height, width, channels] of the .tflite's images: the data's stored size, or the
    model's input size where stored sizes vary."""
    return metadata.input_shape if None in metadata.raw_shape else metadata.raw_shape


def input_spec(metadata: Metadata) -> tuple[Callable[[tf.Tensor], tf.Tensor], tf.TensorSpec]:
    """What the .tflite takes, uint8 images, and the ops (as training's) that make the model's
    inputs of them inside it."""
    spec = tf.TensorSpec([None, *input_size(metadata)], tf.uint8, "images")
    return image_ops.make_prepare_fn(metadata), spec


def client_inputs(raw_inputs: Sequence[bytes], metadata: Metadata, assets_dir: Path) -> np.ndarray:
    """Raw examples (encoded images) as a client gives them to the .tflite:
    predict_image.tflite_pixels, uint8 [N, height, width, channels]."""
    return np.stack([tflite_pixels(raw, input_size(metadata)) for raw in raw_inputs])
{%- else %}
# What export/<version>/README.md tells a client of the .tflite's input.
INPUT_NOTE = (
    "Give it word ids, made from texts with `predict_text.token_ids` (plain Python) and "
    "assets/vocab.txt: lower-case, punctuation to spaces, numbers of 3+ digits to `000`, split "
    "on spaces, each word's line number in vocab.txt (1 when absent), padded with 0 or cut to "
    "the sequence length."
)


def input_spec(metadata: Metadata) -> tuple[Callable[[tf.Tensor], tf.Tensor], tf.TensorSpec]:
    """What the .tflite takes, word ids [N, sequence_length], and what makes the model's
    inputs of them inside it: nothing, they are the model's inputs."""
    spec = tf.TensorSpec([None, metadata.sequence_length], tf.int32, "token_ids")
    return (lambda ids: ids), spec


def client_inputs(raw_inputs: Sequence[bytes], metadata: Metadata, assets_dir: Path) -> np.ndarray:
    """Raw examples (UTF-8 texts) as a client gives them to the .tflite: predict_text.token_ids,
    int32 [N, sequence_length]."""
    vocabulary = (assets_dir / text_ops.VOCABULARY_FILE).read_text(encoding="utf-8").splitlines()
    texts = [raw.decode("utf-8") for raw in raw_inputs]
    return np.array(token_ids(texts, vocabulary, metadata.sequence_length), np.int32)
{%- endif %}


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


def write(
    model: keras.Model,
    path: Path,
    metadata: Metadata,
    assets: Path,
    examples: dict[str, tuple[list[bytes], list[int]]],
    options: DictConfig,
) -> dict:
    """Writes the .tflite: what a client gives it (client_inputs) -> probabilities,
    quantized as options.tflite_quantization asks.

    Checked against the Keras model on the check examples (within options.tflite_tolerance; a
    quantized model within options.quantized_tolerance, its classes free to differ), and
    scored on the test examples.

    Returns:
        What the export summary says of it: input, output, quantization, accuracy.
    """
    prepare, spec = input_spec(metadata)

    def probabilities(inputs: tf.Tensor) -> tf.Tensor:
        return tf.nn.softmax(model(prepare(inputs), training=False), axis=-1)

    test_inputs, labels = examples["test"]
    inputs = client_inputs(test_inputs, metadata, assets)
    calibration = client_inputs(examples["calibration"][0], metadata, assets)
    quantization = str(options.tflite_quantization)
    content = convert(probabilities, [spec], [model], quantization, calibration)
    outputs, xnnpack = run(content, inputs)
    checked = slice(0, options.check_examples)
    expected = probabilities(tf.constant(inputs[checked])).numpy()
    difference = float(np.max(np.abs(outputs[checked] - expected)))
    same_classes = np.array_equal(outputs[checked].argmax(-1), expected.argmax(-1))
    if quantization == "none" and (difference > options.tflite_tolerance or not same_classes):
        raise ValueError(
            f"The TFLite model differs from the Keras model (largest difference "
            f"{difference:.2e}, export.tflite_tolerance={options.tflite_tolerance}, same "
            f"classes: {same_classes}); it was not kept."
        )
    if quantization != "none" and difference > options.quantized_tolerance:
        raise ValueError(
            f"The {quantization}-quantized TFLite model's probabilities differ from the "
            f"Keras model's by up to {difference:.2f} (export.quantized_tolerance="
            f"{options.quantized_tolerance}); it was not kept. Try another "
            "export.tflite_quantization, or more export.calibration_examples for int8."
        )
    path.write_bytes(content)
    return {
        "file": path.name,
        "quantization": quantization,
        "input": {"name": spec.name, "dtype": spec.dtype.name, "shape": spec.shape.as_list()},
        "output": {
            "name": "probabilities",
            "dtype": "float32",
            "shape": [None, metadata.num_classes],
        },
        "accuracy": float(np.mean(outputs.argmax(axis=-1) == np.asarray(labels))),
        "bytes": len(content),
        "xnnpack": xnnpack,  # false: create the interpreter without default delegates
    }


def readme(summary: dict) -> list[str]:
    """The lines of export/<version>/README.md on the .tflite."""
    lines = [
        f"## `{summary['file']}` (LiteRT, {summary['quantization']} quantization)",
        "",
        f"- input `{summary['input']['name']}`: {summary['input']['dtype']} "
        f"{summary['input']['shape']}",
        f"- output `probabilities`: float32 {summary['output']['shape']}",
        "",
        INPUT_NOTE,
        "",
    ]
    if not summary["xnnpack"]:
        lines += [
            "LiteRT's default delegate (XNNPACK) cannot run this quantization of the model: "
            "create the interpreter with `experimental_op_resolver_type="
            "OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES`.",
            "",
        ]
    return lines
