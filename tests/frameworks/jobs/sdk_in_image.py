"""Run as a job in a framework image by tests/frameworks/test_image_sdk.py: the image's
framework and libaiflow load in one process (their protobuf/numpy pins agree) and a param and a
metric reach the platform's MLflow server.

    python sdk_in_image.py FRAMEWORK_MODULE EXPERIMENT
"""

import importlib
import importlib.util
import sys

import libaiflow

framework = importlib.import_module(sys.argv[1])
exp = libaiflow.init(sys.argv[2])
with libaiflow.start_run(exp.experiment_id, run_name=sys.argv[1]):
    libaiflow.log_params({"framework_version": getattr(framework, "__version__", "?"),
                          "python_prefix": sys.prefix, "libaiflow_file": libaiflow.__file__,
                          # only libaiflow comes from the platform's checkout, not the repository
                          "repo_on_path": str(importlib.util.find_spec("core") is not None)})
    for step in (1, 2):
        libaiflow.log_metric("sdk_check", 0.5 * step, step=step)
print("logged to", exp.name)
