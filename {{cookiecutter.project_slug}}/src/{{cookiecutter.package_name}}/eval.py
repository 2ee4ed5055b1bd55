"""Evaluate a run's checkpoint (default: runs/latest, latest) on its test split or on other data
of the same classes; writes metrics.json and report.md. Training overrides are ignored.

    {{ cookiecutter.package_name }}-eval run_dir=runs/DIR checkpoint=best data.test_path=other_test_data/
"""

import dataclasses
import json
import logging
import sys
from pathlib import Path

import hydra
import tensorflow as tf
from omegaconf import DictConfig

from . import checkpoints, cli, jsonio, report, runs
from . import model as model_lib
from .data.data_loader import input_spec, load_split
from .trainer import make_evaluator

log = logging.getLogger(__name__)

KNOWN_KEYS = ("run_dir", "runs_root", "checkpoint", "data.test_path")


def evaluate(
    run_dir: str | Path, checkpoint: str = "latest", test_path: str | None = None
) -> dict:
    """Evaluates and writes metrics.json and report.md into run_dir/eval/<checkpoint>[-<test
    data>]/ (the latest on the run's test split: run_dir/metrics.json too); returns the metrics."""
    run_dir = Path(run_dir)
    cfg, metadata = runs.load_config(run_dir), runs.load_metadata(run_dir)
    records_dir, records = runs.run_records(cfg, metadata, test_path)
    class_names = metadata.class_names
    if records.class_names != class_names:
        raise ValueError(
            f"The test data ({records_dir}) has the classes {records.class_names}, but {run_dir} "
            f"was trained on {class_names}. Evaluate it on data with the same classes."
        )
    records = records.limited(cfg.data.limit)  # debug=limit's fraction
    if not records.counts["test"]["total"]:
        raise ValueError(f"The test split of {records_dir} is empty: nothing to evaluate.")
    model = model_lib.build_model(cfg.model, metadata)
    checkpoint_path = checkpoints.restore_model(model, run_dir, checkpoint)
    if holder := runs.lock_holder(run_dir):
        log.warning("%s is still training (%s): evaluating %s", run_dir, holder, checkpoint_path)
    # As validation is run: the run's input ops (metadata), the test records' counts (records).
    spec = dataclasses.replace(input_spec(cfg, records_dir, metadata), metadata=records)
    test = load_split(spec, "test", cfg.train.batch_size, training=False, pad_to_full_batches=True)
    evaluator = make_evaluator(tf.distribute.get_strategy(), model, class_names)
    metrics = evaluator(iter(test), len(test))
    metrics.update(checkpoint=checkpoint_path, test_data=test_path or "the run's test split")
    write_dir = run_dir / "eval" / (checkpoint + (f"-{Path(test_path).name}" if test_path else ""))
    write_dir.mkdir(parents=True, exist_ok=True)
    jsonio.write_json(write_dir / "metrics.json", metrics)
    if checkpoint == "latest" and test_path is None:  # what the run reports (the runs table)
        jsonio.write_json(run_dir / "metrics.json", metrics)
    report_file = report.write_report(write_dir, metrics, class_names)
{%- if cookiecutter.tracking in ("mlflow", "all") %}
    if (run_dir / "mlflow.json").exists():  # trained with logger=mlflow
        from .mlflow_tracking import log_artifacts  # the mlflow extra's import

        log_artifacts(run_dir, [write_dir / "metrics.json", report_file])
{%- endif %}
    log.info("Wrote %s and %s", write_dir / "metrics.json", report_file)
    return metrics


@hydra.main(version_base="1.3", config_path="configs", config_name="eval")
def _main(cfg: DictConfig) -> None:
    with cli.exit_on_user_error():
        run_dir = runs.resolve_run_dir(cfg.run_dir, cfg.runs_root)
        metrics = evaluate(run_dir, cfg.checkpoint, cfg.data.test_path)
    headline = {key: metrics[key] for key in report.HEADLINE}
    rounded = {k: round(v, 4) if isinstance(v, float) else v for k, v in headline.items()}
    print(json.dumps(rounded, indent=2))


def main() -> None:
    """Console script: {{ cookiecutter.package_name }}-eval [run_dir=DIR|latest] [checkpoint=best]"""
    cli.setup_logging()
    sys.argv[1:] = cli.keep_known_overrides(sys.argv[1:], KNOWN_KEYS)
    _main()


if __name__ == "__main__":
    main()
