"""Export a run (default runs/latest) as a SavedModel of raw inputs, in TF Serving's layout.

    {{ cookiecutter.package_name }}-export run_dir=runs/DIR checkpoint=best{{ " export.tflite_quantization=int8" if cookiecutter.tflite }}

Staged, reloaded as TensorFlow Serving loads it and compared with the Keras model on the test
split, then renamed to export/<next version>/ (a failed check leaves nothing; export.json).
"""

import logging
import shutil
import sys
from pathlib import Path

import hydra
import keras
import numpy as np
import tensorflow as tf
from omegaconf import DictConfig{{ ", OmegaConf" if cookiecutter.tflite }}

from . import checkpoints, cli, jsonio, runs{{ ', tflite' if cookiecutter.tflite }}
from . import model as model_lib
from . import {{ "serving_image" if cookiecutter.model_type == "cnn" else "serving_text" }} as serving
{%- if cookiecutter.tflite %}
from .config import export_defaults
{%- endif %}
from .data import data_loader, input_ops
from .data.metadata import Metadata

log = logging.getLogger(__name__)

KNOWN_KEYS = ("run_dir", "runs_root", "checkpoint"{{ ', "export"' if cookiecutter.tflite }})
CHECK_EXAMPLES = 64  # test examples every signature must classify as the Keras model does
TOLERANCE = 1e-5  # the largest difference of the served probabilities from the Keras model's


def build_archive(model: keras.Model, metadata: Metadata) -> keras.export.ExportArchive:
    def classify(model_inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        probabilities = tf.nn.softmax(model(model_inputs, training=False), axis=-1)
        class_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        class_name = tf.gather(tf.constant(metadata.class_names), class_id)
        return {"probabilities": probabilities, "class_id": class_id, "class_name": class_name}

    archive = keras.export.ExportArchive()
    archive.track(model)
    serving.add_signatures(archive, classify, metadata)
    return archive


def compare(
    outputs: np.ndarray, expected: np.ndarray, tolerance: float, what: str, classes: bool = True
) -> float:
    """max |outputs - expected|; raises above `tolerance` or (if `classes`) on another class."""
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
) -> tuple[float, dict[str, dict]]:
    """(largest difference, outputs by signature) of the export at `path` loaded as TensorFlow
    Serving loads it (a TF1 session), on `raw_inputs`."""
    requests, outputs = serving.signature_inputs(raw_inputs, metadata), {}  # eager (no graph yet)
    try:
        with cli.quiet_tensorflow(), tf.Graph().as_default(), tf.compat.v1.Session() as session:
            meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(path))
            for name, inputs in requests.items():
                signature = meta_graph.signature_def[name]
                fetches = {key: value.name for key, value in signature.outputs.items()}
                feeds = {signature.inputs[key].name: value for key, value in inputs.items()}
                outputs[name] = session.run(fetches, feeds)
    except (tf.errors.OpError, OSError, ValueError, KeyError) as error:
        raise ValueError(
            f"The export could not be reloaded and run the way TensorFlow Serving loads it "
            f"({str(error).strip().splitlines()[0]}); it was not kept."
        ) from error
    count, differences = len(expected), []
    for name, output in outputs.items():
        what = f"The reloaded export's {name}"
        differences.append(compare(output["probabilities"][:count], expected, tolerance, what))
    return max(differences), outputs
{%- if cookiecutter.tflite %}


def export(run_dir: str | Path, checkpoint: str = "latest", **options: object) -> Path:
    """Exports `checkpoint` of `run_dir` to the next run_dir/export/<version>/; returns its path.
    `options`: configs/export.yaml's export."""
    run_dir, options = Path(run_dir), OmegaConf.merge(export_defaults(), options)
{%- else %}


def export(run_dir: str | Path, checkpoint: str = "latest") -> Path:
    """Exports `checkpoint` of `run_dir` to the next run_dir/export/<version>/; returns its path."""
    run_dir = Path(run_dir)
{%- endif %}
    cfg, metadata = runs.load_config(run_dir), runs.load_metadata(run_dir)
    model = model_lib.build_model(cfg.model, metadata)
    checkpoint_path = checkpoints.restore_model(model, run_dir, checkpoint)
    versions = [int(path.name) for path in (run_dir / "export").glob("*") if path.name.isdigit()]
    final_path = run_dir / "export" / str(max(versions, default=0) + 1)
    final_path.parent.mkdir(parents=True, exist_ok=True)
    staging = final_path.with_name(f".staging-{final_path.name}")  # removed however it ends
    try:
        shutil.rmtree(staging, ignore_errors=True)  # a killed export's
        summary = write_export(staging, model, cfg, run_dir{{ ", options" if cookiecutter.tflite }})
        summary["checkpoint"] = checkpoint_path  # the runs table flags an older one
        jsonio.write_json(staging / "export.json", summary)
        staging.rename(final_path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
{%- if cookiecutter.tracking in ("mlflow", "all") %}
    if (run_dir / "mlflow.json").exists():  # trained with logger=mlflow
        from .mlflow_tracking import log_artifacts  # the mlflow extra's import

        log_artifacts(run_dir, [final_path])
{%- endif %}
    log.info("Exported and checked %s (from %s): %s", final_path, checkpoint_path, summary)
    return final_path
{%- if cookiecutter.tflite %}


def write_export(
    path: Path, model: keras.Model, cfg: DictConfig, run_dir: Path, options: DictConfig
) -> dict:
    """Writes the checked SavedModel (and .tflite) of `model` into `path`; returns its figures."""
{%- else %}


def write_export(path: Path, model: keras.Model, cfg: DictConfig, run_dir: Path) -> dict:
    """Writes the checked SavedModel of `model` into `path`; returns its figures."""
{%- endif %}
    metadata, assets = runs.load_metadata(run_dir), runs.assets_dir(run_dir)
    records_dir, records = runs.run_records(cfg, metadata)
    raw_inputs, labels = data_loader.read_raw_examples(records_dir, "test", records, -1)
    example_fn = input_ops.make_example_fn(metadata)
    checked = tf.stack([example_fn(raw) for raw in raw_inputs[:CHECK_EXAMPLES]])
    expected = tf.nn.softmax(model(checked, training=False), axis=-1).numpy()
    build_archive(model, metadata).write_out(str(path), verbose=False)
    shutil.copytree(assets, path / "assets", dirs_exist_ok=True)  # metadata.json (class names)...
    difference, outputs = check_export(path, raw_inputs, expected, metadata, TOLERANCE)
    accuracy = float(np.mean(outputs["serving_default"]["class_id"] == labels))
{%- if cookiecutter.tflite %}
    summary = dict(largest_difference=difference, accuracy=accuracy, test_examples=len(labels))
    if options.tflite or options.tflite_quantization != "none":  # a quantization implies it
        test = (raw_inputs, labels)
        summary["tflite"] = tflite.write(model, cfg, path, test, options, compare, CHECK_EXAMPLES)
    return summary
{%- else %}
    return dict(largest_difference=difference, accuracy=accuracy, test_examples=len(labels))
{%- endif %}


@hydra.main(version_base="1.3", config_path="configs", config_name="export")
def _main(cfg: DictConfig) -> None:
    with cli.exit_on_user_error():
        run_dir = runs.resolve_run_dir(cfg.run_dir, cfg.runs_root)
        print(export(run_dir, cfg.checkpoint{{ ", **cfg.export" if cookiecutter.tflite }}))


def main() -> None:
    """Console script: {{ cookiecutter.package_name }}-export [run_dir=DIR|latest] [checkpoint=best]"""
    cli.setup_logging()
    sys.argv[1:] = cli.keep_known_overrides(sys.argv[1:], KNOWN_KEYS)
    _main()


if __name__ == "__main__":
    main()
