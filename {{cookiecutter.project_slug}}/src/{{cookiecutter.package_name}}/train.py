"""Train with one custom loop for every tf.distribute strategy, each run in a new folder
runs/<model>-<data>/<date>_<time>/ (runs/latest: the newest with a checkpoint). For example:

    {{ cookiecutter.package_name }}-train train.epochs=5 run_dir=runs/exp1
    {{ cookiecutter.package_name }}-train train.resume=latest train.epochs=10            # train on
    {{ cookiecutter.package_name }}-train -m train.learning_rate=1e-3,3e-3 model.dropout_rate=0.1,0.3
"""

import gc
import logging
{% if cookiecutter.cluster -%}
from collections.abc import Callable, Sequence
{% else -%}
from collections.abc import Sequence
{% endif -%}
from pathlib import Path

import hydra
import keras
import tensorflow as tf
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from . import cli, distribute, jsonio, runs
from .checkpoints import restore_state
from .config import check_batch_size, check_config
from .controller import Controller
from .data import data_loader, preprocess_data
from .eval import evaluate
from .export import export
from .model import build_for_training, build_loss, check_options
from .trainer import Trainer, distributed_datasets, make_evaluator
{%- if cookiecutter.cluster %}
from .watchdog import Watchdog
{%- endif %}

log = logging.getLogger(__name__)


def train(cfg: DictConfig, overrides: Sequence[str] | None = None) -> dict:
    """Trains into a new run folder, or on in one; returns the result. A resume trains with the
    run's config.yaml and, if `overrides` (the command line's key=value) are given, those keys."""
    check_options(cfg.model)  # before any work, as the config's keys
    check_config(cfg)
    cli.setup_logging()
    if overrides is not None:
        cfg = runs.resumed_config(cfg, overrides)
{%- if cookiecutter.cluster %}
    watchdog = None
    if cfg.distribute.name == "multi_worker":
        watchdog = Watchdog(cfg.distribute.worker_timeout_s)
    heartbeat = watchdog.heartbeat if watchdog else lambda: None
    try:
        strategy = distribute.build_strategy(**cfg.distribute)  # before any other TensorFlow op
        if not distribute.is_chief(strategy):  # the others write to a temporary folder
            with runs.worker_dir() as write_dir:
                return run_training(cfg, strategy, write_dir, heartbeat)
        return train_in_run_dir(cfg, strategy, heartbeat)
    finally:
        if watchdog is not None:
            watchdog.stop()


def train_in_run_dir(cfg: DictConfig, strategy: tf.distribute.Strategy, heartbeat: Callable):
    """The chief's part: the run directory chosen, checked, locked and trained in."""
{%- else %}
    strategy = distribute.build_strategy(**cfg.distribute)  # before any other TensorFlow op
{%- endif %}
    run_dir, resuming = runs.choose_run_dir(cfg)
    cfg.run_dir = str(run_dir)
    with runs.run_lock(run_dir):
        if resuming:
            runs.check_resumable(cfg, run_dir)
            if finished := runs.finished_result(cfg, run_dir):
                return finished
        return run_training(cfg, strategy, run_dir{{ ", heartbeat" if cookiecutter.cluster else "" }})


{% if cookiecutter.cluster -%}
def run_training(
    cfg: DictConfig, strategy: tf.distribute.Strategy, write_dir: Path, heartbeat: Callable
) -> dict:
{%- else -%}
def run_training(cfg: DictConfig, strategy: tf.distribute.Strategy, write_dir: Path) -> dict:
{%- endif %}
    """train() once the strategy is up and the run accepted, in named steps."""
    run_dir = Path(cfg.run_dir)
    keras.backend.clear_session(free_memory=False)  # a sweep trains several models; no gc: 0.2 s
    keras.utils.set_random_seed(cfg.seed)  # Python, NumPy, TensorFlow and the data order
    if cfg.train.deterministic:
        tf.config.experimental.enable_op_determinism()
    # The data: records written once per data config, the run folder's copy of its assets.
{%- if cookiecutter.cluster %}
    if write_dir != run_dir:  # a worker but the chief: waits for the chief's records
        timeout = cfg.distribute.worker_timeout_s
        records_dir, metadata = preprocess_data.wait_for_records(
            cfg.data, cfg.seed, timeout, heartbeat
        )
    else:
        records_dir, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
{%- else %}
    records_dir, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
{%- endif %}
    global_batch_size = cfg.train.batch_size * strategy.num_replicas_in_sync
    metadata = metadata.limited(cfg.data.limit, cfg.train.overfit_batches * global_batch_size)
    check_batch_size(cfg.train.batch_size, strategy.num_replicas_in_sync, metadata.counts)
    # train.steps_per_epoch, else a pass; epochs grow to train.min_steps (so in config.yaml).
    examples, train_cfg = metadata.counts["train"]["total"], cfg.train
    steps_per_epoch = train_cfg.steps_per_epoch or max(1, examples // global_batch_size)
    train_cfg.epochs = max(train_cfg.epochs, -(-train_cfg.min_steps // steps_per_epoch))
{%- if cookiecutter.cluster %}
    if write_dir == run_dir:
        runs.start_run(cfg, records_dir, metadata)
{%- else %}
    runs.start_run(cfg, records_dir, metadata)
{%- endif %}
    cli.setup_logging(write_dir / "train.log")
    note = "Run directory %s: %d epochs of %d steps (at least train.min_steps=%d in all)"
    log.info(note, run_dir, train_cfg.epochs, steps_per_epoch, train_cfg.min_steps)
    # The model and its optimizer, restored from the run's latest checkpoint or warm started.
    model, optimizer = build_for_training(cfg, metadata, records_dir, strategy, steps_per_epoch)
{%- if cookiecutter.cluster %}
    state = restore_state(cfg.train, model, optimizer, strategy, write_dir, run_dir)
{%- else %}
    state = restore_state(cfg.train, model, optimizer, strategy, run_dir)
{%- endif %}
    log.info("Model %s: %d parameters", model.name, model.count_params())
    # The trainer, its data, and the loop.
    loss_fn = build_loss(cfg.train, metadata)
    trainer = Trainer(strategy, model, optimizer, loss_fn, global_batch_size, cfg.train)
    spec = data_loader.input_spec(cfg, records_dir, metadata)
    datasets = distributed_datasets(strategy, spec, global_batch_size, state.step)
    loop = Controller(cfg, state, trainer, datasets, steps_per_epoch, write_dir{{ ", heartbeat" if cookiecutter.cluster }})
    result = loop.run(make_evaluator(strategy, model, metadata.class_names))
{%- if cookiecutter.cluster %}
    if write_dir != run_dir:  # a multi-worker run's other workers
        return result
{%- endif %}
    jsonio.write_json(run_dir / runs.RESULT_FILE, result)
    if batches := cfg.train.overfit_batches:  # debug=overfit's verdict
        accuracy = result["accuracy"]
        verdict = "learnt" if accuracy >= 0.99 else "NOT learnt: check labels, loss, inputs, rate"
        level = logging.INFO if verdict == "learnt" else logging.WARNING
        log.log(level, "debug=overfit: %d batches %s (accuracy %.4f)", batches, verdict, accuracy)
    return result


@hydra.main(version_base="1.3", config_path="configs", config_name="config")
def _main(cfg: DictConfig) -> float:
    hydra_config = HydraConfig.get()
    if hydra_config.mode == RunMode.MULTIRUN and not cfg.run_dir:
        cfg.run_dir = hydra_config.runtime.output_dir  # the job's folder in the sweep folder
    with cli.exit_on_user_error(lambda: runs.kept_note(cfg.run_dir)):
        result = train(cfg, hydra_config.overrides.task)
        if cfg.train.eval_and_export:  # debug=fast
            evaluate(result["run_dir"])
            export(result["run_dir"])
    # What a sweeper (hparams_search=optuna) optimises: the best value of train.monitor.
    return result.get(f"best_{cfg.train.monitor}", float("nan"))


def main() -> None:
    """Console script: {{ cookiecutter.package_name }}-train [key=value ...]"""
    gc.freeze()  # the imports' objects (TensorFlow's: many) are left out of every collection
    _main()


if __name__ == "__main__":
    main()
