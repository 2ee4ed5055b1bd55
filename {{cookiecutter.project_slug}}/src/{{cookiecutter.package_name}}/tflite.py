"""The export's ``model.tflite`` for LiteRT (phones, microcontrollers): what it takes,
conversion with quantization, running it, and the check export.py makes of it.
{% if cookiecutter.model_type == "cnn" %}
The ``.tflite`` takes uint8 images [N, height, width, channels] of a fixed size (the data's
stored size, or the model's input size where stored sizes vary) and normalises them inside:
``predict_image.tflite_pixels`` makes them of an image file.
{%- else %}
The ``.tflite`` holds the net after its TextVectorization (TFLite has no string lookup op), so
it takes word ids, int32 [N, sequence_length]: ``predict_text.token_ids`` makes them of texts
and the export's assets/vocab.txt without TensorFlow.
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

from . import cli, runs
{%- if cookiecutter.model_type == "cnn" %}
from .data import data_loader, image_ops
from .data.metadata import Metadata
from .predict_image import tflite_pixels
{%- else %}
from .data import data_loader, text_ops
from .data.metadata import Metadata
from .models.lstmnet import TrimPadding
from .predict_text import token_ids
{%- endif %}

log = logging.getLogger(__name__)

FILE = "model.tflite"
Compare = Callable[..., float]  # export.compare(outputs, expected, tolerance, what, classes)
{%- if cookiecutter.model_type == "cnn" %}


def input_size(metadata: Metadata) -> list[int]:
    """[height, width, channels] of the .tflite's images: the stored images' (data.image_size)."""
    return metadata.input_shape


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


def input_spec(metadata: Metadata) -> tuple[Callable[[tf.Tensor], tf.Tensor], tf.TensorSpec]:
    """What the .tflite takes, word ids [N, sequence_length], and what makes the inputs of the
    net after the vectorizer of them inside it: nothing, they are its inputs."""
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
            "app must create its interpreter without default delegates too (export.json: xnnpack)."
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


def unrolled(model: keras.Model) -> keras.Model:
    """A copy of `model`, weights and all, with every recurrent loop unrolled: TFLite's builtin
    ops cannot run Keras' loop over a tensor list.
{%- if cookiecutter.model_type == "rnn" %} An unrolled loop has a fixed length: TrimPadding
    passes the ids on whole there.
{%- endif %}"""

    def unroll(config: object) -> object:
        if not isinstance(config, dict):
            return config
        return {key: True if key == "unroll" else unroll(value) for key, value in config.items()}

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
{%- if cookiecutter.model_type == "rnn" %}
        if isinstance(layer, TrimPadding):
            return keras.layers.Identity(name=layer.name)
{%- endif %}
        return layer.__class__.from_config(unroll(layer.get_config()))

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def calibration(cfg: DictConfig, metadata: Metadata, assets: Path, count: int) -> np.ndarray:
    """The first `count` training examples as a client gives them: int8's calibration data."""
    records_dir, records = runs.run_records(cfg, metadata)
    raw_inputs, _ = data_loader.read_raw_examples(records_dir, "train", records, count)
    return client_inputs(raw_inputs, metadata, assets)


def write(
    model: keras.Model,
    cfg: DictConfig,
    export_dir: Path,
    test: tuple[list[bytes], list[int]],
    options: DictConfig,
    compare: Compare,
    check_examples: int,
) -> dict:
    """Writes export_dir/model.tflite: what a client gives it (client_inputs) -> probabilities,
    quantized as options.tflite_quantization asks.

    Checked by `compare` (export.py's check) against the Keras model on the first
    `check_examples` test examples, within options.tflite_tolerance (a quantized model within
    options.quantized_tolerance, its classes free to differ), and scored on the test examples.

    Returns:
        What export.json says of it: input, quantization, accuracy, XNNPACK or not.
    """
    metadata = runs.load_metadata(export_dir)  # the export's assets/metadata.json
    prepare, spec = input_spec(metadata)
{%- if cookiecutter.model_type == "rnn" %}
    model = keras.Model(model.get_layer(text_ops.VECTORIZER).output, model.output)  # see above
{%- endif %}
    convertible = unrolled(model)

    def probabilities(inputs: tf.Tensor) -> tf.Tensor:
        return tf.nn.softmax(convertible(prepare(inputs), training=False), axis=-1)

    assets, quantization = export_dir / "assets", str(options.tflite_quantization)
    train_inputs = calibration(cfg, metadata, assets, options.calibration_examples)
    content = convert(probabilities, [spec], [convertible], quantization, train_inputs)
    inputs = client_inputs(test[0], metadata, assets)
    outputs, xnnpack = run(content, inputs)
    checked = slice(0, check_examples)
    expected = probabilities(tf.constant(inputs[checked])).numpy()
    if quantization == "none":
        compare(outputs[checked], expected, options.tflite_tolerance, "The TFLite model")
    else:
        what = f"The {quantization}-quantized TFLite model (try another quantization)"
        compare(outputs[checked], expected, options.quantized_tolerance, what, classes=False)
    (export_dir / FILE).write_bytes(content)
    accuracy = float(np.mean(outputs.argmax(axis=-1) == np.asarray(test[1])))
    log.info("%s (%s): test-split accuracy %.4f", FILE, quantization, accuracy)
    return {
        "file": FILE,
        "quantization": quantization,
        "input": {"name": spec.name, "dtype": spec.dtype.name, "shape": spec.shape.as_list()},
        "accuracy": accuracy,
        "bytes": len(content),
        "xnnpack": xnnpack,  # false: create the interpreter without default delegates
    }
