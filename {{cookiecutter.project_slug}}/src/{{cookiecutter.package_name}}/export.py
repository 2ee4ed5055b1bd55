"""Export a run as a SavedModel that takes raw inputs, in TensorFlow Serving's layout.

    {{ cookiecutter.package_name }}-export                          # the newest run: runs/latest/export/<version>/
    {{ cookiecutter.package_name }}-export run_dir=runs/DIR checkpoint=best {{ "export.tflite_quantization=int8" if cookiecutter.tflite else "export.keras=true" }}
    python -m {{ cookiecutter.package_name }}.export run_dir=DIR export.version=3
    saved_model_cli show --all --dir runs/latest/export/1   # its signatures

Keras' ExportArchive writes the SavedModel; its signatures ({{ "serving_image" if cookiecutter.model_type == "cnn" else "serving_text" }}.py) take raw inputs
and return ``probabilities``, ``class_id`` and ``class_name``; export.json records the
test-split accuracy, assets/ the class names and metadata.json{{ " and vocab.txt" if cookiecutter.model_type == "rnn" }}. Each export is
written to a staging folder, reloaded as TensorFlow Serving loads it, compared with the Keras
model and only then renamed into place: a failed check leaves nothing behind.
"""

import logging
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import hydra
import keras
import numpy as np
import tensorflow as tf
from omegaconf import DictConfig, OmegaConf

from . import checkpoints, cli, distribute, jsonio, runs{{ ', tflite' if cookiecutter.tflite }}
from . import model as model_lib
from . import {{ "serving_image" if cookiecutter.model_type == "cnn" else "serving_text" }} as serving
from .config import export_defaults, register_configs
from .data import data_loader, input_ops
from .data.metadata import Metadata
{%- if cookiecutter.tracking == "mlflow" %}
from .mlflow_tracking import log_artifacts
{%- endif %}

log = logging.getLogger(__name__)

KNOWN_KEYS = ("run_dir", "runs_root", "checkpoint", "export")


def build_archive(
    model: keras.Model, metadata: Metadata, assets_dir: Path
) -> keras.export.ExportArchive:
    """The serving graph: raw inputs -> the training input ops -> model -> probabilities and
    classes, as Keras' export archive (which TensorFlow Serving's session loader restores)."""

    def classify(model_inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        probabilities = tf.nn.softmax(model(model_inputs, training=False), axis=-1)
        class_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        class_name = tf.gather(tf.constant(metadata.class_names), class_id)
        return {"probabilities": probabilities, "class_id": class_id, "class_name": class_name}

    archive = keras.export.ExportArchive()
    archive.track(model)
    serving.add_signatures(archive, classify, metadata, assets_dir)
    return archive


def serve_in_session(path: Path, requests: Sequence[tuple[str, dict]]) -> dict[str, dict]:
    """Runs (signature, inputs) requests on the SavedModel loaded the way TensorFlow Serving and
    saved_model_cli load it, into a TF1 session that restores the variables by name; returns
    each signature's outputs, those of its requests joined."""
    results = {}
    with cli.quiet_tensorflow(), tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(path))
        for name, inputs in requests:
            signature = meta_graph.signature_def[name]
            fetches = {key: value.name for key, value in signature.outputs.items()}
            feeds = {signature.inputs[key].name: value for key, value in inputs.items()}
            results.setdefault(name, []).append(session.run(fetches, feeds))
    return {
        name: {key: np.concatenate([batch[key] for batch in batches]) for key in batches[0]}
        for name, batches in results.items()
    }


def keras_probabilities(model: keras.Model, model_inputs: tf.Tensor) -> np.ndarray:
    """What every check compares with: the Keras model's class probabilities."""
    return tf.nn.softmax(model(model_inputs, training=False), axis=-1).numpy()


def compare(
    outputs: np.ndarray, expected: np.ndarray, tolerance: float, what: str, classes: bool = True
) -> float:
    """Returns the largest difference of `outputs` from the Keras model's probabilities;
    raises when it exceeds `tolerance` or (unless classes=False) a class differs."""
    difference = float(np.max(np.abs(outputs - expected)))
    same_classes = np.array_equal(outputs.argmax(axis=-1), expected.argmax(axis=-1))
    if difference > tolerance or (classes and not same_classes):
        raise ValueError(
            f"{what} differs from the Keras model (largest difference {difference:.2e}, "
            f"tolerance {tolerance:.0e}, same classes: {same_classes}); it was not kept."
        )
    return difference


def check_export(
    path: Path, raw_inputs: list[bytes], expected: np.ndarray, metadata: Metadata, tolerance: float
) -> float:
    """Runs every signature of the export, reloaded as TensorFlow Serving does, on
    `raw_inputs`; returns the largest difference from `expected`, the Keras model's
    probabilities, or raises when it exceeds `tolerance` or a class differs."""
    try:
        outputs = serve_in_session(path, serving.signature_requests(raw_inputs, metadata))
    except (tf.errors.OpError, OSError, ValueError, KeyError) as error:
        raise ValueError(
            f"The export could not be reloaded and run the way TensorFlow Serving loads it "
            f"({str(error).strip().splitlines()[0]}); it was not kept."
        ) from error
    difference = 0.0
    for name, output in outputs.items():
        names = [class_name.decode() for class_name in output["class_name"]]
        if names != [metadata.class_names[i] for i in output["probabilities"].argmax(axis=-1)]:
            raise ValueError(f"The reloaded export's {name} names its classes wrongly.")
        what = f"The reloaded export's {name}"
        difference = max(difference, compare(output["probabilities"], expected, tolerance, what))
    return difference


def export(run_dir: str | Path, checkpoint: str = "latest", **options: object) -> Path:
    """Exports the latest (or best) checkpoint of `run_dir`; checks it by reloading it.

    Args:
        run_dir: a run directory written by train.
        checkpoint: latest, or best (by the run's train.monitor).
        **options: values of the export config (config.ExportConfig), e.g. keras=True.

    Returns:
        The export directory, run_dir/export/<version>.
    """
    run_dir = Path(run_dir)
    options = OmegaConf.merge(export_defaults(), options)
    cfg, metadata = runs.load_config(run_dir), runs.load_metadata(run_dir)
    model = model_lib.build_model(cfg.model, metadata)
    checkpoint_path = checkpoints.restore_model(model, run_dir, checkpoint)
    versions = [int(path.name) for path in (run_dir / "export").glob("*") if path.name.isdigit()]
    final_path = run_dir / "export" / str(options.version or max(versions, default=0) + 1)
    if final_path.exists():
        raise FileExistsError(f"{final_path} exists; choose another export.version.")
    staging_path = final_path.with_name(f".staging-{final_path.name}")
    shutil.rmtree(staging_path, ignore_errors=True)
    try:
        summary = write_export(staging_path, model, cfg, run_dir, options)
    except Exception:
        shutil.rmtree(staging_path, ignore_errors=True)
        raise
    staging_path.rename(final_path)
{%- if cookiecutter.tracking == "mlflow" %}
    log_artifacts(run_dir, [final_path])
{%- endif %}
    log.info("Exported and checked %s (from %s): %s", final_path, checkpoint_path, summary)
    return final_path


def write_export(
    path: Path, model: keras.Model, cfg: DictConfig, run_dir: Path, options: DictConfig
) -> dict:
    """Writes the SavedModel (and the files `options` ask for) of `model` into `path`, each
    checked against the Keras model on the test examples, and export.json; returns it."""
    metadata, assets = runs.load_metadata(run_dir), runs.assets_dir(run_dir)
    records_dir, records = runs.run_records(cfg, metadata)
    count = options.accuracy_examples or metadata.counts["test"]["total"]
    raw_inputs, labels = data_loader.read_raw_examples(records_dir, "test", records, count)
    checked = raw_inputs[: options.check_examples]
    example_fn = input_ops.make_example_fn(metadata, assets)
    model_inputs = tf.stack([example_fn(tf.constant(raw)) for raw in checked])
    expected = keras_probabilities(model, model_inputs)
    build_archive(model, metadata, assets).write_out(str(path), verbose=False)
    shutil.copytree(assets, path / "assets", dirs_exist_ok=True)  # the data's metadata.json, ...
    names = "".join(f"{name}\n" for name in metadata.class_names)  # line number = class id
    (path / "assets" / "class_names.txt").write_text(names, encoding="utf-8")
    tolerance = options.tolerance
    summary = {"largest_difference": check_export(path, checked, expected, metadata, tolerance)}
    batches = serving.serving_batches(raw_inputs, metadata)  # the accuracy, served as above
    requests = [("serving_default", {serving.DEFAULT_INPUT: batch.numpy()}) for batch in batches]
    class_ids = serve_in_session(path, requests)["serving_default"]["class_id"]
    summary["accuracy"] = float(np.mean(class_ids == np.asarray(labels)))
    summary["test_examples"] = len(labels)
    if options.keras:
        model.save(path / "model.keras")
        reloaded = keras_probabilities(keras.saving.load_model(path / "model.keras"), model_inputs)
        compare(reloaded, expected, tolerance, "The reloaded model.keras")
{%- if cookiecutter.tflite %}
    if options.tflite or options.tflite_quantization != "none":  # a quantization implies it
        summary["tflite"] = tflite.write(model, cfg, path, (raw_inputs, labels), options, compare)
{%- endif %}
    jsonio.write_json(path / "export.json", summary)
    return summary


@hydra.main(version_base="1.3", config_path="configs", config_name="export")
def _main(cfg: DictConfig) -> None:
    cli.setup_logging()
    with cli.exit_on_user_error():
        run_dir = runs.resolve_run_dir(cfg.run_dir, cfg.runs_root)
        print(export(run_dir, cfg.checkpoint, **cfg.export))


def main() -> None:
    """Console script: {{ cookiecutter.package_name }}-export [run_dir=DIR|latest] [export.keras=true]"""
    cli.setup_logging()
    distribute.probe_devices()  # first: without an NVIDIA GPU it mutes CUDA's start-up errors
    sys.argv[1:] = cli.keep_known_overrides(sys.argv[1:], KNOWN_KEYS)
    register_configs()
    _main()


if __name__ == "__main__":
    main()
