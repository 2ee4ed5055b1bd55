"""Mixed precision and XLA against float32: training-step examples/s, measured in one run.

Builds the model and trainer.py's training step once per setting, runs each on one batch held
in memory, and prints examples/s with the ratio to float32 measured in the same process:

    python scripts/benchmark_train.py                        # default data, batch 64
    python scripts/benchmark_train.py --steps 300 train.batch_size=256

On a GPU "mixed" is float16 with loss scaling; on a CPU it is bfloat16.
"""

import argparse
import tempfile
from pathlib import Path

from benchmark_input import train_step_speed
from hydra import compose, initialize_config_module

from {{ cookiecutter.package_name }} import cli, distribute
from {{ cookiecutter.package_name }}.data import preprocess_data

PACKAGE = "{{ cookiecutter.package_name }}"
SETTINGS = {
    "float32": ["train.mixed_precision=false", "train.jit_compile=false"],
    "mixed": ["train.mixed_precision=true", "train.jit_compile=false"],
    "xla": ["train.mixed_precision=false", "train.jit_compile=true"],
    "mixed+xla": ["train.mixed_precision=true", "train.jit_compile=true"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200, help="steps timed per setting")
    parser.add_argument(
        "--settings",
        default=",".join(SETTINGS),
        help=f"comma-separated, float32 first (default: {','.join(SETTINGS)})",
    )
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. data=...")
    args = parser.parse_args()
    chosen = args.settings.split(",")
    if chosen[0] != "float32" or not set(chosen) <= set(SETTINGS):
        parser.error(f"--settings: float32 first, then any of {', '.join(SETTINGS)}")
    cli.setup_logging()
    speeds = {}
    with tempfile.TemporaryDirectory() as work_dir:
        for name in chosen:
            setting = SETTINGS[name]
            with initialize_config_module(config_module=f"{PACKAGE}.configs", version_base="1.3"):
                cfg = compose(
                    "config",
                    overrides=[
                        *args.overrides,
                        *setting,
                        f"run_dir={Path(work_dir) / str(len(speeds))}",
                    ],
                )
            if not speeds:
                strategy = distribute.build_strategy(**cfg.distribute)
                records_dir, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
            speeds[name] = train_step_speed(cfg, strategy, records_dir, metadata, args.steps)
    policy = distribute.mixed_precision_policy(True)
    print(f"\n{'setting':<14}{'examples/s':>12}{'vs float32':>12}   (mixed: {policy})")
    for name, speed in speeds.items():
        print(f"{name:<14}{speed:>12.0f}{speed / speeds['float32']:>11.2f}x")


if __name__ == "__main__":
    main()
