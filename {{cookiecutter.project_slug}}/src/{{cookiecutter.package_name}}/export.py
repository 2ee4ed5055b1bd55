"""Export a run as a SavedModel that takes raw inputs, in TensorFlow Serving's layout.

    {{ cookiecutter.package_name }}-export                          # the newest run: runs/latest/export/<version>/
{%- if cookiecutter.tflite %}
    {{ cookiecutter.package_name }}-export run_dir=runs/DIR checkpoint=best export.tflite=true
    {{ cookiecutter.package_name }}-export export.tflite=true export.tflite_quantization=int8
{%- else %}
    {{ cookiecutter.package_name }}-export run_dir=runs/DIR checkpoint=best export.keras=true
{%- endif %}
    python -m {{ cookiecutter.package_name }}.export run_dir=DIR export.version=3

The SavedModel is written by Keras' own serving export (keras.export.ExportArchive), which
TensorFlow Serving, ``saved_model_cli`` and the C++/Java/Go loaders restore into a session. Its
signatures ({{ "serving_image" if cookiecutter.model_type == "cnn" else "serving_text" }}.py) take raw inputs and return ``probabilities``
[N, num_classes], ``class_id`` [N] and ``class_name`` [N]; the preprocessing inside the graph is
the code training used. The export folder stands alone: assets/ holds the class names, the
data's metadata.json{{ " and the vocabulary" if cookiecutter.model_type == "rnn" else "" }}, and README.md and export.json state what each signature
{{- " and the .tflite" if cookiecutter.tflite }} take, with the test-split accuracy of each. Every export is reloaded the way
TensorFlow Serving loads it and checked against the Keras model before it is moved into
place; a failed check leaves nothing behind.
"""

import base64
import json
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

from . import checkpoints as checkpoints_lib
from . import cli, distribute, jsonio, runs{{ ', tflite' if cookiecutter.tflite }}
from . import model as model_lib
from . import {{ "serving_image" if cookiecutter.model_type == "cnn" else "serving_text" }} as serving
from .config import export_defaults, register_configs
from .data import data_loader, input_ops
from .data.metadata import Metadata
{%- if cookiecutter.tracking == "mlflow" %}
from .mlflow_tracking import log_artifacts
{%- endif %}

log = logging.getLogger(__name__)

EXPORT_DIR = "export"
CLASS_NAMES_FILE = "class_names.txt"
KERAS_FILE = "model.keras"
SUMMARY_FILE = "export.json"
KNOWN_KEYS = ("run_dir", "runs_root", "checkpoint", "export")
SERVE_TAG = "serve"


def write_class_names(class_names: Sequence[str], assets_dir: Path) -> Path:
    """Writes one class name per line (line number = class id) for the export's assets."""
    path = assets_dir / CLASS_NAMES_FILE
    path.write_text("".join(f"{name}\n" for name in class_names), encoding="utf-8")
    return path


def class_name_table(metadata: Metadata, assets_dir: Path) -> tf.lookup.StaticHashTable:
    """id -> name, read from assets/class_names.txt, which travels with the SavedModel."""
    return tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(
            str(write_class_names(metadata.class_names, assets_dir)),
            key_dtype=tf.int64,
            key_index=tf.lookup.TextFileIndex.LINE_NUMBER,
            value_dtype=tf.string,
            value_index=tf.lookup.TextFileIndex.WHOLE_LINE,
        ),
        default_value="",
    )


def build_archive(
    model: keras.Model, metadata: Metadata, assets_dir: Path
) -> keras.export.ExportArchive:
    """The serving graph: raw inputs -> input_ops -> model -> probabilities and classes, as
    Keras' export archive, whose variables a session loader (TensorFlow Serving) restores."""
    class_names = class_name_table(metadata, assets_dir)

    def classify(model_inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        probabilities = tf.nn.softmax(model(model_inputs, training=False), axis=-1)
        class_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {
            "probabilities": probabilities,
            "class_id": class_id,
            "class_name": class_names.lookup(tf.cast(class_id, tf.int64)),
        }

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(class_names)
    signatures, resources = serving.endpoints(classify, metadata, assets_dir)
    for resource in resources:  # lookup tables the signatures use
        archive.track(resource)
    for name, (function, signature) in signatures.items():
        archive.add_endpoint(name, function, signature)
    return archive


def serve_in_session(
    export_path: Path, requests: Sequence[tuple[str, dict[str, np.ndarray]]]
) -> list[dict[str, np.ndarray]]:
    """Runs (signature, inputs) requests on the SavedModel loaded the way TensorFlow Serving and
    saved_model_cli load it: into a TF1 session that restores the variables by name."""
    with cli.quiet_tensorflow(), tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, [SERVE_TAG], str(export_path))
        results = []
        for name, inputs in requests:
            signature = meta_graph.signature_def[name]
            fetches = {key: value.name for key, value in signature.outputs.items()}
            feeds = {signature.inputs[key].name: value for key, value in inputs.items()}
            results.append(session.run(fetches, feeds))
    return results


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
    """Reloads the SavedModel into a session, as TensorFlow Serving does, and compares every
    signature with the Keras model on raw examples.

    The export gets `raw_inputs`; `expected` holds the Keras model's probabilities for the
    same examples, prepared by the training pipeline's input_ops (`keras_probabilities`).

    Returns:
        The largest absolute difference of the probabilities.

    Raises:
        ValueError: when outputs differ by more than `tolerance` or class ids disagree.
    """
    requests = serving.signature_requests(raw_inputs, metadata)
    try:
        outputs = serve_in_session(export_path, requests)
    except (tf.errors.OpError, OSError, ValueError, KeyError) as error:
        raise ValueError(
            f"The export could not be reloaded and run the way TensorFlow Serving loads it "
            f"({str(error).strip().splitlines()[0]}); it was not kept."
        ) from error
    difference = 0.0
    for name in dict(requests):
        batches = [
            result
            for (signature, _), result in zip(requests, outputs, strict=True)
            if signature == name
        ]
        joined = {key: np.concatenate([batch[key] for batch in batches]) for key in batches[0]}
        names = [class_name.decode("utf-8") for class_name in joined["class_name"]]
        if names != [metadata.class_names[i] for i in joined["class_id"]]:
            raise ValueError(
                f"The reloaded export's {name} names its classes wrongly; it was not kept."
            )
        what = f"The reloaded export's {name}"
        difference = max(difference, compare(joined["probabilities"], expected, tolerance, what))
    return difference


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


def accuracy(probabilities: np.ndarray, labels: Sequence[int]) -> float:
    return float(np.mean(probabilities.argmax(axis=-1) == np.asarray(labels)))


# === The export ===


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
    examples = {
        "test": data_loader.read_raw_examples(
            records_dir,
            "test",
            records,
            options.accuracy_examples or metadata.counts["test"]["total"],
        ),
{%- if cookiecutter.tflite %}
        "calibration": data_loader.read_raw_examples(
            records_dir, "train", records, options.calibration_examples
        ),
{%- endif %}
    }
    try:
        summary = write_export(staging_path, model, cfg, metadata, assets, examples, options)
    except Exception:
        shutil.rmtree(staging_path, ignore_errors=True)
        raise
    staging_path.rename(final_path)
{%- if cookiecutter.tracking == "mlflow" %}
    log_artifacts(run_dir, [final_path])
{%- endif %}
    log.info(
        "Exported %s from %s; reloaded it as TensorFlow Serving does and matched the Keras "
        "model on %d test examples (largest difference %.1e)",
        final_path,
        checkpoint_path,
        min(options.check_examples, len(examples["test"][0])),
        summary["largest_difference"],
    )
    log.info("Test-split accuracy: %s", describe_accuracies(summary))
    return final_path


def describe_accuracies(summary: dict) -> str:
    parts = [f"SavedModel {summary['accuracy']:.4f}"]
{%- if cookiecutter.tflite %}
    if "tflite" in summary:
        lite = summary["tflite"]
        parts.append(f"{lite['file']} ({lite['quantization']}) {lite['accuracy']:.4f}")
{%- endif %}
    return ", ".join(parts) + f" on {summary['test_examples']} test examples"


def write_export(
    path: Path,
    model: keras.Model,
    cfg: DictConfig,
    metadata: Metadata,
    assets: Path,
    examples: dict[str, tuple[list[bytes], list[int]]],
    options: DictConfig,
) -> dict:
    """Writes the SavedModel (and the .keras{{ " and TFLite" if cookiecutter.tflite }} files `options` ask for) of `model`
    into `path`, each checked against the Keras model on the test examples, and the
    summary (export.json, README.md) a client needs.

    Returns:
        The summary: signatures, accuracies, the largest difference from the Keras model.
    """
    raw_inputs, labels = examples["test"]
    checked = raw_inputs[: options.check_examples]
    example_fn = input_ops.make_example_fn(metadata, assets)
    model_inputs = tf.stack([example_fn(tf.constant(raw)) for raw in checked])
    expected = keras_probabilities(model, model_inputs)
    build_archive(model, metadata, assets).write_out(str(path), verbose=False)
    shutil.copy2(assets / runs.METADATA_FILE, path / "assets" / runs.METADATA_FILE)
    difference = check_export(path, checked, expected, metadata, options.tolerance)
    summary = describe_export(path, metadata, raw_inputs, labels)
    summary["largest_difference"] = difference
    if options.keras:
        write_keras(model, path / KERAS_FILE, model_inputs, expected, options.tolerance)
{%- if cookiecutter.tflite %}
    if options.tflite or options.tflite_quantization != "none":  # a quantization implies it
        # The same net and weights, built as TFLite can convert it (recurrent loops unrolled).
        convertible = model_lib.build_model(cfg.model, metadata, unroll=True)
        convertible.set_weights(model.get_weights())
        summary["tflite"] = tflite.write(
            convertible, path / tflite.FILE, metadata, assets, examples, options
        )
{%- endif %}
    jsonio.write_json(path / SUMMARY_FILE, summary)
    (path / "README.md").write_text(readme(summary), encoding="utf-8")
    return summary


def describe_export(
    path: Path, metadata: Metadata, raw_inputs: Sequence[bytes], labels: Sequence[int]
) -> dict:
    """What a client needs to know: each signature's inputs and outputs, a checked REST body
    for each, and the SavedModel's accuracy on the test split (run in a session)."""
    loaded = tf.saved_model.load(str(path))
    signatures = {}
    bodies = serving.rest_bodies(raw_inputs, metadata)
    for name, function in loaded.signatures.items():
        specs = function.structured_input_signature[1]
        signatures[name] = {
            "inputs": {key: describe_spec(spec) for key, spec in specs.items()},
            "outputs": {
                key: describe_spec(spec) for key, spec in function.structured_outputs.items()
            },
            "rest_body": bodies[name],
        }
    check_rest_bodies(path, signatures)
    requests = serving.signature_requests(raw_inputs, metadata)
    outputs = serve_in_session(
        path, [request for request in requests if request[0] == "serving_default"]
    )
    probabilities = np.concatenate([output["probabilities"] for output in outputs])
    return {
        "signatures": signatures,
        "class_names": list(metadata.class_names),
        "accuracy": accuracy(probabilities, labels),
        "test_examples": len(labels),
    }


def describe_spec(spec: tf.TensorSpec) -> dict:
    return {"dtype": spec.dtype.name, "shape": spec.shape.as_list()}


def check_rest_bodies(path: Path, signatures: dict) -> None:
    """Decodes each REST body as TensorFlow Serving does (lists of numbers or strings,
    {"b64": ...} for bytes), checks it against the signature's input, and runs it."""
    requests = []
    for name, signature in signatures.items():
        ((key, spec),) = signature["inputs"].items()
        instances = signature["rest_body"]["instances"]
        if spec["dtype"] == "string":
            values = np.array(
                [
                    (
                        base64.b64decode(item["b64"])
                        if isinstance(item, dict)
                        else item.encode("utf-8")
                    )
                    for item in instances
                ],
                dtype=object,
            )
        else:
            values = np.array(instances, dtype=spec["dtype"])
        expected_shape = spec["shape"]
        if len(values.shape) != len(expected_shape) or any(
            want is not None and want != got
            for want, got in zip(expected_shape, values.shape, strict=True)
        ):
            raise ValueError(
                f"The REST example of {name} has shape {values.shape}, not {expected_shape}."
            )
        requests.append((name, {key: values}))
    serve_in_session(path, requests)


def readme(summary: dict) -> str:
    """export/<version>/README.md: how to call this export, from its summary."""
    lines = [
        "# This export",
        "",
        "A SavedModel for TensorFlow Serving (copy this folder to `MODEL_BASE/NAME/1/`), "
        "`saved_model_cli`, `tf.saved_model.load` or any SavedModel loader. `assets/` holds "
        "the class names (line number = class id) and the data's metadata.json; export.json "
        "all that this page says, with whole REST bodies. "
        f"Test-split accuracy: {describe_accuracies(summary)}.",
        "",
    ]
    for name, signature in summary["signatures"].items():
        lines += [f"## Signature `{name}`", ""]
        for kind in ("inputs", "outputs"):
            for key, spec in signature[kind].items():
                lines.append(f"- {kind[:-1]} `{key}`: {spec['dtype']} {spec['shape']}")
        body = json.dumps(signature["rest_body"])
        if len(body) > 300:
            body = body[:300] + " ..."
        lines += [
            "",
            "REST: `POST http://HOST:8501/v1/models/NAME:predict` with",
            "",
            f"    {body}",
            "",
        ]
{%- if cookiecutter.tflite %}
    if "tflite" in summary:
        lines += tflite.readme(summary["tflite"])
{%- endif %}
    return "\n".join(lines)


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
