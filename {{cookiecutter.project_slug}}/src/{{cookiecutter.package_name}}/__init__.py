{{ (cookiecutter.project_name ~ ": " ~ cookiecutter.description) | py_docstring }}

import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile

__version__ = "{{ cookiecutter.version }}"
# TensorFlow's C++ log: errors only, unless TF_CPP_MIN_LOG_LEVEL says otherwise. Its harmless
# start-up lines, printed whatever the level, are left out (docs/training.md: what may remain).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HARMLESS = re.compile(rb"absl::InitializeLog|oneDNN custom op|cudart_stub|cuInit|with AVX-512")


class QuietTensorFlowImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Runs the first `import tensorflow` with the HARMLESS lines of stderr (fd 2) left out."""

    def find_spec(self, name: str, path: object, target: object = None) -> object:
        spec = importlib.machinery.PathFinder.find_spec(name) if name == "tensorflow" else None
        if spec is not None:
            sys.meta_path.remove(self)
            self.loader, spec.loader = spec.loader, self
        return spec

    def exec_module(self, module: object) -> None:
        sys.stderr.flush()
        stderr = os.dup(2)
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                self.loader.exec_module(module)
                module.__loader__ = module.__spec__.loader = self.loader
                if not os.path.exists("/proc/driver/nvidia/version"):  # no NVIDIA driver:
                    module.config.list_physical_devices("GPU")  # CUDA's failed probe, now
                # oneDNN's notice that it leaves a type (bool: Keras' RNN masks) to Eigen, once a
                # process: now, in a graph of its own (the devices stay unset, for split_cpu).
                with module.Graph().as_default(), module.compat.v1.Session() as session:
                    session.run(module.transpose([[True]]))
            finally:
                os.dup2(stderr, 2)
                os.close(stderr)
                captured.seek(0)
                os.write(2, b"".join(line for line in captured if not HARMLESS.search(line)))


if "tensorflow" not in sys.modules:
    sys.meta_path.insert(0, QuietTensorFlowImport())
