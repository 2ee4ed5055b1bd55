"""Export a run as a SavedModel that takes raw inputs, in TensorFlow Serving's layout.

    {{ cookiecutter.package_name }}-export                          # the newest run: runs/latest/export/<version>/
    {{ cookiecutter.package_name }}-export run_dir=runs/DIR checkpoint=best export.tflite=true
    python -m {{ cookiecutter.package_name }}.export run_dir=DIR export.version=3

The export's signatures ({{ "serving_image" if cookiecutter.model_type == "cnn" else "serving_text" }}.py) take raw inputs and return ``probabilities``
[N, num_classes], ``class_id`` [N] and ``class_name`` [N]; the preprocessing inside the graph is
the code training used. Every export is reloaded and checked against the Keras model on test
examples before it is moved into place; a failed check leaves nothing behind.
"""

import logging
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import hydra
import keras
import numpy as np
import tensorflow as tf
from omegaconf import DictConfig, OmegaConf

from . import callbacks, cli, distribute, runs
from . import checkpoints as checkpoints_lib
from . import model as model_lib
from .config import export_defaults, register_configs
from .data import data_loader, input_ops
from .data.metadata import Metadata
from .{{ "serving_image" if cookiecutter.model_type == "cnn" else "serving_text" }} import Signatures, serving_batches

log = logging.getLogger(__name__)

EXPORT_DIR = "export"
CLASS_NAMES_FILE = "class_names.txt"
TFLITE_FILE = "model.tflite"
KERAS_FILE = "model.keras"
KNOWN_KEYS = ("run_dir", "runs_root", "checkpoint", "export")


def write_class_names(class_names: Sequence[str], assets_dir: Path) -> Path:
    """Writes one class name per line (line number = class id) for the export's assets."""
    path = assets_dir / CLASS_NAMES_FILE
    path.write_text("".join(f"{name}\n" for name in class_names), encoding="utf-8")
    return path


class Classifier(tf.Module):
    """The serving graph: raw inputs -> input_ops -> model -> probabilities and classes."""

    def __init__(self, model: keras.Model, metadata: Metadata, assets_dir: Path) -> None:
        super().__init__(name="classifier")
        self.model = model
        # id -> name, read from assets/class_names.txt, which travels with the SavedModel.
        self.class_names = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(
                str(write_class_names(metadata.class_names, assets_dir)),
                key_dtype=tf.int64,
                key_index=tf.lookup.TextFileIndex.LINE_NUMBER,
                value_dtype=tf.string,
                value_index=tf.lookup.TextFileIndex.WHOLE_LINE,
            ),
            default_value="",
        )
        # The signatures of this model type, which call back into classify.
        self.inputs = Signatures(self.classify, metadata, assets_dir)

    def signatures(self) -> dict:
        return self.inputs.signatures()

    def classify(self, model_inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        probabilities = tf.nn.softmax(self.model(model_inputs, training=False), axis=-1)
        class_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {
            "probabilities": probabilities,
            "class_id": class_id,
            "class_name": self.class_names.lookup(tf.cast(class_id, tf.int64)),
        }


def keras_probabilities(model: keras.Model, model_inputs: tf.Tensor) -> np.ndarray:
    """What every check compares with: the Keras model's class probabilities."""
    return tf.nn.softmax(model(model_inputs, training=False), axis=-1).numpy()


def check_export(
    export_path: Path,
    raw_inputs: Sequence[bytes],
    expected: np.ndarray,
    metadata: Metadata,
    tolerance: float,
) -> float:
    """Reloads the SavedModel and compares it with the Keras model on raw examples.

    The export gets `raw_inputs`; `expected` holds the Keras model's probabilities for the
    same examples, prepared by the training pipeline's input_ops (`keras_probabilities`).

    Returns:
        The largest absolute difference of the probabilities.

    Raises:
        ValueError: when outputs differ by more than `tolerance` or class ids disagree.
    """
    try:
        serve = tf.saved_model.load(str(export_path)).signatures["serving_default"]
        batches = [serve(batch) for batch in serving_batches(raw_inputs, metadata)]
    except (tf.errors.OpError, OSError, ValueError) as error:
        raise ValueError(
            f"The export could not be reloaded and run ({str(error).splitlines()[0]}); "
            "it was not kept."
        ) from error
    outputs = {key: tf.concat([batch[key] for batch in batches], 0) for key in batches[0]}
    names = [name.decode("utf-8") for name in outputs["class_name"].numpy()]
    if names != [metadata.class_names[i] for i in outputs["class_id"].numpy()]:
        raise ValueError("The reloaded export names its classes wrongly; it was not kept.")
    return compare(outputs["probabilities"].numpy(), expected, tolerance, "The reloaded export")


def next_version(export_root: Path) -> int:
    """One more than the highest numbered version under `export_root` (1 for the first)."""
    versions = [int(path.name) for path in export_root.glob("*") if path.name.isdigit()]
    return max(versions, default=0) + 1


def compare(outputs: np.ndarray, expected: np.ndarray, tolerance: float, what: str) -> float:
    """Checks probabilities against the Keras model's: within `tolerance`, same classes."""
    difference = float(np.max(np.abs(outputs - expected)))
    same_classes = np.array_equal(outputs.argmax(axis=-1), expected.argmax(axis=-1))
    if difference > tolerance or not same_classes:
        raise ValueError(
            f"{what} differs from the Keras model (largest difference {difference:.2e}, "
            f"tolerance {tolerance:.0e}, same classes: {same_classes}); it was not kept."
        )
    return difference


def write_keras(
    model: keras.Model,
    path: Path,
    model_inputs: tf.Tensor,
    expected: np.ndarray,
    tolerance: float,
) -> None:
    """Saves a .keras file for further training in Keras, checked by reloading it."""
    model.save(path)
    outputs = keras_probabilities(keras.saving.load_model(path), model_inputs)
    compare(outputs, expected, tolerance, f"The reloaded {path.name}")


def write_tflite(
    model: keras.Model,
    path: Path,
    model_inputs: tf.Tensor,
    expected: np.ndarray,
    tolerance: float,
) -> None:
    """Converts the model to TFLite from a Keras export archive and checks it example by example.

    TFLite takes the model's inputs, as the Keras model does: the preprocessing of input_ops
    stays with the client. Converting from a plain SavedModel can silently give NaNs, hence
    the Keras export archive, and the check.
    """
    with tempfile.TemporaryDirectory() as archive:
        model.export(archive, verbose=False)
        try:
            content = tf.lite.TFLiteConverter.from_saved_model(archive).convert()
        except Exception as error:
            raise ValueError(
                f"This model cannot be converted to TFLite ({str(error).splitlines()[0]}); "
                "export without export.tflite=true."
            ) from error
    interpreter = tf.lite.Interpreter(model_content=content)
    interpreter.allocate_tensors()
    (input_detail,) = interpreter.get_input_details()
    (output_detail,) = interpreter.get_output_details()
    logits = []
    for example in model_inputs.numpy():
        interpreter.set_tensor(
            input_detail["index"], example[np.newaxis].astype(input_detail["dtype"])
        )
        interpreter.invoke()
        logits.append(interpreter.get_tensor(output_detail["index"])[0])
    outputs = tf.nn.softmax(np.stack(logits), axis=-1).numpy()
    compare(outputs, expected, tolerance, "The TFLite model")
    path.write_bytes(content)


def export(run_dir: str | Path, checkpoint: str = "latest", **options: object) -> Path:
    """Exports the latest (or best) checkpoint of `run_dir`; checks it by reloading it.

    Args:
        run_dir: a run directory written by train.
        checkpoint: latest, or best (by the run's train.monitor).
        **options: values of the export config (config.ExportConfig), e.g. tflite=True.

    Returns:
        The export directory, run_dir/export/<version>.
    """
    run_dir = Path(run_dir)
    options = OmegaConf.merge(export_defaults(), options)
    cfg = runs.load_config(run_dir)
    metadata = runs.load_metadata(run_dir)
    model = model_lib.build_model(cfg.model, metadata)
    checkpoint_path = checkpoints_lib.restore_model(model, run_dir, checkpoint)
    assets = runs.assets_dir(run_dir)

    export_root = run_dir / EXPORT_DIR
    version = options.version or next_version(export_root)
    final_path = export_root / str(version)
    if final_path.exists():
        raise FileExistsError(f"{final_path} exists; choose another export.version.")
    staging_path = export_root / f".staging-{version}"
    shutil.rmtree(staging_path, ignore_errors=True)

    records_dir, records = runs.run_records(cfg, metadata)
    raw_inputs, _ = data_loader.read_raw_examples(
        records_dir, "test", records, options.check_examples
    )
    try:
        difference = write_export(staging_path, model, cfg, metadata, assets, raw_inputs, options)
    except Exception:
        shutil.rmtree(staging_path, ignore_errors=True)
        raise
    staging_path.rename(final_path)
    callbacks.log_artifacts(run_dir, [final_path])
    log.info(
        "Exported %s from %s; reloaded it and matched the Keras model on %d test examples "
        "(largest difference %.1e)",
        final_path,
        checkpoint_path,
        len(raw_inputs),
        difference,
    )
    return final_path


def write_export(
    path: Path,
    model: keras.Model,
    cfg: DictConfig,
    metadata: Metadata,
    assets: Path,
    raw_inputs: list[bytes],
    options: DictConfig,
) -> float:
    """Writes the SavedModel (and the .keras and TFLite files `options` ask for) of `model`
    into `path`, each checked against the Keras model on `raw_inputs`.

    Returns:
        The SavedModel's largest difference from the Keras model's probabilities.
    """
    example_fn = input_ops.make_example_fn(metadata, assets)
    model_inputs = tf.stack([example_fn(tf.constant(raw)) for raw in raw_inputs])
    expected = keras_probabilities(model, model_inputs)
    classifier = Classifier(model, metadata, assets)
    tf.saved_model.save(classifier, str(path), signatures=classifier.signatures())
    difference = check_export(path, raw_inputs, expected, metadata, options.tolerance)
    if options.keras:
        write_keras(model, path / KERAS_FILE, model_inputs, expected, options.tolerance)
    if options.tflite:
        # The same net and weights, built as TFLite can convert it (recurrent loops unrolled).
        convertible = model_lib.build_model(cfg.model, metadata, unroll=True)
        convertible.set_weights(model.get_weights())
        write_tflite(
            convertible, path / TFLITE_FILE, model_inputs, expected, options.tflite_tolerance
        )
    return difference


@hydra.main(version_base="1.3", config_path="configs", config_name="export")
def _main(cfg: DictConfig) -> None:
    cli.setup_logging()
    with cli.exit_on_user_error():
        run_dir = runs.resolve_run_dir(cfg.run_dir, cfg.runs_root)
        print(export(run_dir, cfg.checkpoint, **cfg.export))


def main() -> None:
    """Console script: {{ cookiecutter.package_name }}-export [run_dir=DIR|latest] [export.tflite=true]"""
    cli.setup_logging()
    distribute.probe_devices()  # first: without an NVIDIA GPU it mutes CUDA's start-up errors
    sys.argv[1:] = cli.keep_known_overrides(sys.argv[1:], KNOWN_KEYS)
    register_configs()
    _main()


if __name__ == "__main__":
    main()
