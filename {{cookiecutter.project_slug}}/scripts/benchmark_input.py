"""Is the input pipeline fast enough? Examples/s of each data source against the training step.

For each data source this measures, in the same process:
  - the training step alone, on one batch held in memory (what training can consume);
  - the input pipeline alone (TFRecords -> tf.data, as train.py builds it): reading and
    decoding every batch, and the training pipeline once its cache is filled;
and prints their ratio: above 1, the pipeline outruns the model and is not the bottleneck.

    python scripts/benchmark_input.py                                   # the offline sources
    python scripts/benchmark_input.py --data {{ "image_folder,data.path=imgs/" if cookiecutter.model_type == "cnn" else "csv,data.path=sms.csv" }} --steps 300
"""

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import tensorflow as tf
from hydra import compose, initialize_config_module
from omegaconf import DictConfig

from {{ cookiecutter.package_name }} import cli, distribute, runs
from {{ cookiecutter.package_name }} import model as model_lib
from {{ cookiecutter.package_name }}.data import (
    data_loader,
    preprocess_data,
)
from {{ cookiecutter.package_name }}.data.metadata import Metadata
from {{ cookiecutter.package_name }}.trainer import Trainer

PACKAGE = "{{ cookiecutter.package_name }}"
DEFAULT_SOURCES = [{{ '"digits", "synthetic"' if cookiecutter.model_type == "cnn" else '"digit_sentences", "synthetic"' }}]


def examples_per_second(step, steps: int, batch_size: int) -> float:
    """Runs `step` a few times to warm up, then `steps` times; returns examples/s."""
    for _ in range(5):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch_size / (time.perf_counter() - start)


def benchmark(source: str, overrides: list[str], steps: int, work_dir: Path) -> dict:
    """Measures one data source; returns examples/s of the step and of the pipeline."""
    name, *source_overrides = source.split(",")
    with initialize_config_module(config_module=f"{PACKAGE}.configs", version_base="1.3"):
        cfg = compose(
            "config",
            overrides=[
                f"data={name}",
                f"run_dir={work_dir / name}",
                *source_overrides,
                *overrides,
            ],
        )
    cli.setup_logging()
    strategy = distribute.build_strategy(**cfg.distribute)
    records_dir, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    runs.start_run(cfg, records_dir, metadata)  # the run folder's assets, as train writes them
    batch_size = cfg.train.batch_size * strategy.num_replicas_in_sync

    spec = data_loader.input_spec(cfg, records_dir, metadata)

    def pipeline(training: bool, cache: str) -> tf.data.Dataset:
        return data_loader.load_split(
            dataclasses.replace(spec, cache=cache), "train", batch_size, training=training
        )

    # Decoding: every batch read from the shards and decoded, nothing cached.
    uncached = iter(pipeline(False, "none").repeat())
    decoding = examples_per_second(lambda: next(uncached), steps, batch_size)
    # Cached: the training pipeline (shuffle, augmentation) once its cache is filled.
    training = iter(pipeline(True, cfg.data.cache))
    for _ in range(metadata.counts["train"]["total"] // batch_size + 1):
        next(training)
    cached = examples_per_second(lambda: next(training), steps, batch_size)

    consumed = train_step_speed(cfg, strategy, records_dir, metadata, steps)
    return {"source": name, "step": consumed, "decoding": decoding, "cached": cached}


def train_step_speed(
    cfg: DictConfig,
    strategy: tf.distribute.Strategy,
    records_dir: str,
    metadata: Metadata,
    steps: int,
) -> float:
    """Examples/s of trainer.py's training step alone, on one batch held in memory."""
    runs.start_run(cfg, records_dir, metadata)  # the run folder's assets, as train writes them
    batch_size = cfg.train.batch_size * strategy.num_replicas_in_sync
    model, optimizer = model_lib.build_for_training(cfg, metadata, records_dir, strategy, steps)
    loss_fn = model_lib.build_loss(cfg.train, metadata)
    trainer = Trainer(strategy, model, optimizer, loss_fn, batch_size, cfg.train)
    spec = data_loader.input_spec(cfg, records_dir, metadata)
    dataset = data_loader.load_split(
        dataclasses.replace(spec, cache="none"), "train", batch_size, training=False
    )
    batch = next(iter(dataset))
    in_memory = iter(
        strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(batch).repeat())
    )
    return examples_per_second(lambda: trainer.train(in_memory, 1), steps, batch_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data",
        action="append",
        help="a source, with its overrides after commas (repeatable); default: "
        + ", ".join(DEFAULT_SOURCES),
    )
    parser.add_argument("--steps", type=int, default=200, help="batches timed per measurement")
    parser.add_argument("overrides", nargs="*", help="key=value overrides for every source")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as work_dir:
        for source in args.data or DEFAULT_SOURCES:
            rows.append(benchmark(source, args.overrides, args.steps, Path(work_dir)))
    print(
        f"\n{'source':<16}{'train step':>11}{'pipeline, decoding':>20}{'cached':>18}"
        "\n" + " " * 27 + "examples/s (ratio to the train step)"
    )
    for row in rows:
        print(
            f"{row['source']:<16}{row['step']:>11.0f}"
            f"{row['decoding']:>12.0f} ({row['decoding'] / row['step']:4.1f}x)"
            f"{row['cached']:>10.0f} ({row['cached'] / row['step']:4.1f}x)"
        )
    print("A ratio above 1x: the input pipeline outruns the training step.")


if __name__ == "__main__":
    main()
