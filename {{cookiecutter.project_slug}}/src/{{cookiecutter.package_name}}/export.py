"""Export a run as a SavedModel that takes raw inputs, in TensorFlow Serving's layout.

    {{ cookiecutter.package_name }}-export run_dir=runs/{{ "lenet5-digits" if cookiecutter.model_type == "cnn" else "lstm-digit_sentences" }}     # writes run_dir/export/<version>/
    python -m {{ cookiecutter.package_name }}.export run_dir=DIR export.version=3

{%- if cookiecutter.model_type == "cnn" %}
``serving_default`` takes uint8 images [N, height, width, channels] of the data's size and
``serve_bytes`` encoded image files [N] of any size;
{%- else %}
``serving_default`` takes raw UTF-8 texts [N];
{%- endif %} both return ``probabilities`` [N, num_classes],
``class_id`` [N] and ``class_name`` [N]. The preprocessing inside the graph is input_ops, the
same code training used. Every export is reloaded and checked against the Keras model on test
examples before it is moved into place; a failed check leaves nothing behind.
"""

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

import hydra
import keras
import numpy as np
import tensorflow as tf
from omegaconf import DictConfig

from . import model as model_lib
from . import runs
from .config import register_configs
from .data import data_loader, input_ops, preprocess_data

log = logging.getLogger(__name__)

EXPORT_DIR = "export"


class Classifier(tf.Module):
    """The serving graph: raw inputs -> input_ops -> model -> probabilities and classes."""

    def __init__(self, model: keras.Model, metadata: dict, assets_dir: Path) -> None:
        super().__init__(name="classifier")
        self.model = model
        self.class_names = tf.constant(metadata["class_names"])
{%- if cookiecutter.model_type == "cnn" %}
        channels = metadata["input_shape"][-1]
        image_size = metadata["input_shape"][:2]
        mean = metadata["normalization"]["mean"]
        std = metadata["normalization"]["std"]
        height, width, _ = metadata["raw_shape"]

        def serve_images(images: tf.Tensor) -> dict[str, tf.Tensor]:
            return self.classify(input_ops.prepare_images(images, image_size, mean, std))

        def serve_bytes(image_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
            images = tf.map_fn(
                lambda encoded: input_ops.prepare_images(
                    input_ops.decode_image(encoded, channels), image_size, mean, std
                ),
                image_bytes,
                fn_output_signature=tf.TensorSpec([*image_size, channels], tf.float32),
            )
            return self.classify(images)

        self.serve = tf.function(
            serve_images,
            input_signature=[tf.TensorSpec([None, height, width, channels], tf.uint8, "images")],
        )
        self.serve_bytes = tf.function(
            serve_bytes, input_signature=[tf.TensorSpec([None], tf.string, "image_bytes")]
        )

    def signatures(self) -> dict:
        return {
            "serving_default": self.serve.get_concrete_function(),
            "serve_bytes": self.serve_bytes.get_concrete_function(),
        }
{%- else %}
        self.vocabulary = input_ops.make_vocabulary_table(assets_dir / input_ops.VOCABULARY_FILE)
        sequence_length = metadata["sequence_length"]

        def serve_texts(texts: tf.Tensor) -> dict[str, tf.Tensor]:
            return self.classify(input_ops.tokenize(texts, self.vocabulary, sequence_length))

        self.serve = tf.function(
            serve_texts, input_signature=[tf.TensorSpec([None], tf.string, "texts")]
        )

    def signatures(self) -> dict:
        return {"serving_default": self.serve.get_concrete_function()}
{%- endif %}

    def classify(self, model_inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        probabilities = tf.nn.softmax(self.model(model_inputs, training=False), axis=-1)
        class_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {
            "probabilities": probabilities,
            "class_id": class_id,
            "class_name": tf.gather(self.class_names, class_id),
        }


def serving_batches(raw_inputs: Sequence[bytes], metadata: dict) -> list[tf.Tensor]:
    """Raw test examples as serving_default takes them, in batches it can take."""
{%- if cookiecutter.model_type == "cnn" %}
    channels = metadata["input_shape"][-1]
    images = [input_ops.decode_image(raw, channels) for raw in raw_inputs]
    if None in metadata["raw_shape"]:  # images of several sizes: one batch each
        return [image[tf.newaxis] for image in images]
    return [tf.stack(images)]
{%- else %}
    del metadata
    return [tf.constant(list(raw_inputs))]
{%- endif %}


def check_export(
    export_path: Path,
    model: keras.Model,
    example_fn: object,
    raw_inputs: Sequence[bytes],
    metadata: dict,
    tolerance: float,
) -> float:
    """Reloads the SavedModel and compares it with the Keras model on raw examples.

    Returns:
        The largest absolute difference of the probabilities.

    Raises:
        ValueError: when outputs differ by more than `tolerance` or class ids disagree.
    """
    serve = tf.saved_model.load(str(export_path)).signatures["serving_default"]
    batches = [serve(batch) for batch in serving_batches(raw_inputs, metadata)]
    outputs = {key: tf.concat([batch[key] for batch in batches], 0) for key in batches[0]}
    model_inputs = tf.stack([example_fn(tf.constant(raw)) for raw in raw_inputs])
    expected = tf.nn.softmax(model(model_inputs, training=False), axis=-1).numpy()
    difference = float(np.max(np.abs(outputs["probabilities"].numpy() - expected)))
    same_classes = np.array_equal(outputs["class_id"].numpy(), expected.argmax(axis=-1))
    if difference > tolerance or not same_classes:
        raise ValueError(
            f"The reloaded export differs from the Keras model (largest difference "
            f"{difference:.2e}, tolerance {tolerance:.0e}, same classes: {same_classes}); "
            "it was not kept."
        )
    return difference


def next_version(export_root: Path) -> int:
    """One more than the highest numbered version under `export_root` (1 for the first)."""
    versions = [int(path.name) for path in export_root.glob("*") if path.name.isdigit()]
    return max(versions, default=0) + 1


def export(run_dir: str | Path, overrides: Sequence[str] = ()) -> Path:
    """Exports the latest checkpoint of `run_dir` and checks the export by reloading it.

    Returns:
        The export directory, run_dir/export/<version>.
    """
    run_dir = Path(run_dir)
    cfg = runs.load_config(run_dir, overrides)
    metadata = runs.load_metadata(run_dir)
    model = model_lib.build_model(cfg.model, metadata)
    runs.restore_model(model, run_dir)
    assets = runs.assets_dir(run_dir)

    export_root = run_dir / EXPORT_DIR
    version = cfg.export.version or next_version(export_root)
    final_path = export_root / str(version)
    if final_path.exists():
        raise FileExistsError(f"{final_path} exists; choose another export.version.")
    staging_path = export_root / f".staging-{version}"
    shutil.rmtree(staging_path, ignore_errors=True)

    classifier = Classifier(model, metadata, assets)
    tf.saved_model.save(classifier, str(staging_path), signatures=classifier.signatures())
    records_dir, records = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    raw_inputs, _ = data_loader.read_raw_examples(
        records_dir, "test", records, cfg.export.check_examples
    )
    example_fn = input_ops.make_example_fn(metadata, assets)
    try:
        difference = check_export(
            staging_path, model, example_fn, raw_inputs, metadata, cfg.export.tolerance
        )
    except Exception:
        shutil.rmtree(staging_path, ignore_errors=True)
        raise
    staging_path.rename(final_path)
    log.info(
        "Exported %s; reloaded it and matched the Keras model on %d test examples "
        "(largest difference %.1e)",
        final_path,
        len(raw_inputs),
        difference,
    )
    return final_path


@hydra.main(version_base="1.3", config_path="configs", config_name="config")
def _main(cfg: DictConfig) -> None:
    runs.setup_logging()
    with runs.exit_on_user_error():
        print(export(cfg.run_dir, runs.command_line_overrides()))


def main() -> None:
    """Console script: {{ cookiecutter.package_name }}-export run_dir=DIR [key=value ...]"""
    register_configs()
    _main()


if __name__ == "__main__":
    main()
