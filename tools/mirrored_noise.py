"""How far float32 summation order moves a net's loss curve: the yardstick of the baked
test_distribute.py::test_mirrored_training_matches_one_device.

For each learning rate it trains the same 10 steps three times from one seed: on one device
(batch 32), on one device with other kernels (TF_ENABLE_ONEDNN_OPTS=0: another summation
order on the same CPU, as another CPU would have), and mirrored on two logical CPUs (batch
16 + 16). The test's tolerance (rtol 1e-3) must sit far above the first gap at the rate the
test uses. Run it on a CNN bake (the template's tests bake one; or `make demo`):

    .venv/bin/python tools/mirrored_noise.py build/demo/my_tf_project 0.002 0.0005
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

NET = [  # the pretrained net of the test, from a random initialisation
    "model=pretrained",
    "data.image_size=[32,32]",
    "model.weights=null",
    "experiment=smoke",
    "train.log_every_steps=1",
    "train.steps_per_loop=1",
    "train.deterministic=true",
    "model.dropout_rate=0",
    "train.optimizer=sgd",
]
RUNS = {
    "one device": (["distribute=one_device", "train.batch_size=32"], {}),
    "other kernels": (
        ["distribute=one_device", "train.batch_size=32"],
        {"TF_ENABLE_ONEDNN_OPTS": "0"},
    ),
    "mirrored": (
        ["distribute=mirrored", "distribute.logical_cpus=2", "train.batch_size=16"],
        {},
    ),
}


def loss_curve(project: Path, run_dir: Path, overrides: list[str], env: dict) -> np.ndarray:
    """The per-step training loss that a run of the bake's train module logs to TensorBoard."""
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    package = next(path.name for path in (project / "src").iterdir() if path.is_dir())
    env = {**os.environ, "PYTHONPATH": str(project / "src"), "TF_CPP_MIN_LOG_LEVEL": "2", **env}
    command = [sys.executable, "-m", f"{package}.train", *NET, *overrides, f"run_dir={run_dir}"]
    subprocess.run(command, cwd=run_dir.parent, env=env, check=True, capture_output=True)
    events = EventAccumulator(str(run_dir / "tensorboard" / "train"), {"tensors": 0})
    events.Reload()
    return np.array([float(tf.make_ndarray(e.tensor_proto)) for e in events.Tensors("loss")])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("project", type=Path, help="a CNN bake")
    parser.add_argument("rates", nargs="+", type=float)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for rate in args.rates:
            curves = {
                name: loss_curve(
                    args.project.resolve(),
                    Path(folder) / f"{name.replace(' ', '_')}-{rate}",
                    [*overrides, f"train.learning_rate={rate}"],
                    env,
                )
                for name, (overrides, env) in RUNS.items()
            }
            baseline = curves.pop("one device")
            print(f"rate {rate}: loss {np.round(baseline, 3).tolist()}")
            for name, curve in curves.items():
                gaps = np.abs(curve / baseline - 1)
                print(
                    f"  {name:>13} vs one device: largest gap {gaps.max():.1e} at step "
                    f"{gaps.argmax() + 1}"
                )


if __name__ == "__main__":
    main()
