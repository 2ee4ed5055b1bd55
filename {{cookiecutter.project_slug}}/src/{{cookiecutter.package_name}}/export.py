"""Export a run as a SavedModel that takes raw inputs, in TensorFlow Serving's layout.

    {{ cookiecutter.package_name }}-export                          # the newest run: runs/latest/export/<version>/
    {{ cookiecutter.package_name }}-export run_dir=runs/DIR checkpoint=best {{ "export.tflite_quantization=int8" if cookiecutter.tflite else "export.version=3" }}
    saved_model_cli show --all --dir runs/latest/export/1   # its signatures

Keras' ExportArchive writes it ({{ "serving_image" if cookiecutter.model_type == "cnn" else "serving_text" }}.py: the signatures); export.json holds its test
accuracy. Each export is staged, reloaded as TensorFlow Serving loads it and compared with the
Keras model, and only then renamed into place: a failed check leaves nothing behind.
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
    """raw inputs -> the training input ops -> model -> probabilities, class_id, class_name."""

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
    """Runs (signature, inputs) requests on the SavedModel loaded as TensorFlow Serving and
    saved_model_cli load it, into a TF1 session; returns the outputs by signature."""
    outputs = {}
    with cli.quiet_tensorflow(), tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(path))
        for name, inputs in requests:
            signature = meta_graph.signature_def[name]
            fetches = {key: value.name for key, value in signature.outputs.items()}
            feeds = {signature.inputs[key].name: value for key, value in inputs.items()}
            outputs[name] = session.run(fetches, feeds)
    return outputs


def keras_probabilities(model: keras.Model, model_inputs: tf.Tensor) -> np.ndarray:
    """What every check compares with: the Keras model's class probabilities."""
    return tf.nn.softmax(model(model_inputs, training=False), axis=-1).numpy()


def compare(
    outputs: np.ndarray, expected: np.ndarray, tolerance: float, what: str, classes: bool = True
) -> float:
    """The largest difference of `outputs` from `expected`, the Keras model's probabilities;
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
    """Runs every signature of the export at `path`, reloaded as TensorFlow Serving does, on
    `raw_inputs`; compare()s each with `expected` and checks its class names."""
    try:
        outputs = serve_in_session(path, serving.signature_requests(raw_inputs, metadata))
    except (tf.errors.OpError, OSError, ValueError, KeyError) as error:
        raise ValueError(
            f"The export could not be reloaded and run the way TensorFlow Serving loads it "
            f"({str(error).strip().splitlines()[0]}); it was not kept."
        ) from error
    class_names = [metadata.class_names[i].encode() for i in expected.argmax(axis=-1)]
    differences = []
    for name, output in outputs.items():
        what = f"The reloaded export's {name}"
        differences.append(compare(output["probabilities"], expected, tolerance, what))
        if list(output["class_name"]) != class_names:
            raise ValueError(f"{what} names its classes wrongly.")
    return max(differences)


def export(run_dir: str | Path, checkpoint: str = "latest", **options: object) -> Path:
    """Exports `checkpoint` (latest, or best by train.monitor) of `run_dir` to
    run_dir/export/<version> and returns that path; `options`: configs/export.yaml's export."""
    run_dir, options = Path(run_dir), OmegaConf.merge(export_defaults(), options)
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
    """Writes the checked SavedModel{{ " (and .tflite)" if cookiecutter.tflite }} of `model` and export.json into `path`."""
    metadata, assets = runs.load_metadata(run_dir), runs.assets_dir(run_dir)
    records_dir, records = runs.run_records(cfg, metadata)
    count = options.accuracy_examples or metadata.counts["test"]["total"]
    raw_inputs, labels = data_loader.read_raw_examples(records_dir, "test", records, count)
    checked = raw_inputs[: options.check_examples]
    example_fn = input_ops.make_example_fn(metadata, assets)
    expected = keras_probabilities(model, tf.stack([example_fn(raw) for raw in checked]))
    build_archive(model, metadata, assets).write_out(str(path), verbose=False)
    shutil.copytree(assets, path / "assets", dirs_exist_ok=True)  # the data's metadata.json, ...
    names = "".join(f"{name}\n" for name in metadata.class_names)  # line number = class id
    (path / "assets" / "class_names.txt").write_text(names, encoding="utf-8")
    difference = check_export(path, checked, expected, metadata, options.tolerance)
    (batch,) = serving.serving_batches(raw_inputs, metadata)  # the accuracy, served as above
    served = serve_in_session(path, [("serving_default", {serving.DEFAULT_INPUT: batch.numpy()})])
    accuracy = float(np.mean(served["serving_default"]["class_id"] == labels))
    summary = dict(largest_difference=difference, accuracy=accuracy, test_examples=len(labels))
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
    """Console script: {{ cookiecutter.package_name }}-export [run_dir=DIR|latest] [checkpoint=best]"""
    cli.setup_logging()
    distribute.probe_devices()  # first: without an NVIDIA GPU it mutes CUDA's start-up errors
    sys.argv[1:] = cli.keep_known_overrides(sys.argv[1:], KNOWN_KEYS)
    register_configs()
    _main()


if __name__ == "__main__":
    main()
