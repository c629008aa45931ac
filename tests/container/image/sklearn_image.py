"""A small stand-in for the scikit-learn 1.9-0 image's own Python glue, run by ``.venv-container``'s Python.

The image sets ``SAGEMAKER_TRAINING_MODULE`` and ``SAGEMAKER_SERVING_MODULE`` to its framework package and installs
a ``serve`` command; that package is not on PyPI, so the container tier uses this module in its place. It is an
independent rewrite of the behaviour, not a copy:

* training (``SAGEMAKER_TRAINING_MODULE=sklearn_image:train``): build sagemaker-training's ``Environment`` from the
  relocated ``/opt/ml`` tree and hand the user entry point, its command-line arguments and ``SM_*`` variables to
  ``sagemaker_training.entry_point.run`` with the process runner, so the script runs as ``python train.py <flags>``
  in the code folder and a non-zero exit raises the toolkit's error to whichever launcher called us;
* serving (``python sklearn_image.py serve``, the image's ``serve``): ``server.start`` of sagemaker-containers with
  ``SAGEMAKER_SERVING_MODULE`` as the gunicorn application (gevent workers). The master pip-installs and imports the
  user module from ``SAGEMAKER_SUBMIT_DIRECTORY`` before starting gunicorn;
* the application (``SAGEMAKER_SERVING_MODULE=sklearn_image:app``): in each worker, the first request of any kind
  (``/ping`` included) imports the user module, wraps its ``model_fn``/``input_fn``/``predict_fn``/``output_fn``
  (or ``transform_fn``) in the toolkit's ``Transformer``, calls ``model_fn`` and builds the toolkit's Flask
  ``Worker``. As in the image, nothing serialises that first build: requests arriving while it runs build it again
  (one more ``model_fn`` each). Missing handlers fall back to numpy decoding (float32 for JSON/CSV) and
  ``model.predict``, as the image's defaults do.

Added here and not in the image: log lines with the timing of the pip install, the user-module import and
``model_fn`` (``sklearn_image timing ...``, read by the cold-start benchmark). They change no behaviour.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time

logging.basicConfig(format="%(asctime)s %(levelname)s - %(name)s - %(message)s", level=logging.INFO)
for noisy in ("boto3", "s3transfer"):
    logging.getLogger(noisy).setLevel(logging.INFO)
logging.getLogger("botocore").setLevel(logging.WARNING)
log = logging.getLogger("sklearn_image")


def _timing(step: str, started: float, **details) -> None:
    extra = "".join(f" {key}={value}" for key, value in details.items())
    log.info("sklearn_image timing %s %.3f s pid=%d%s", step, time.perf_counter() - started, os.getpid(), extra)


# --- training -----------------------------------------------------------------------------------------------
def train() -> None:
    """The training framework entry point: run the user script with sagemaker-training's process runner."""
    from sagemaker_training import entry_point, environment, runner

    job = environment.Environment()
    log.info("running user entry point %s from %s", job.user_entry_point, job.module_dir)
    entry_point.run(
        uri=job.module_dir,
        user_entry_point=job.user_entry_point,
        args=job.to_cmd_args(),
        env_vars=job.to_env_vars(),
        runner_type=runner.ProcessRunnerType,
    )


# --- serving ------------------------------------------------------------------------------------------------
def _fallback_input(data, content_type):
    import numpy as np
    from sagemaker_containers.beta.framework import content_types, encoders

    array = encoders.decode(data, content_type)
    return array.astype(np.float32) if content_type in content_types.UTF8_TYPES else array


def _fallback_predict(data, model):
    return model.predict(data)


def _fallback_output(prediction, accept):
    from sagemaker_containers.beta.framework import encoders, worker

    return worker.Response(encoders.encode(prediction, accept), accept, mimetype=accept)


def _transformer_for(user_module):
    from sagemaker_containers.beta.framework import transformer

    handlers = {name: getattr(user_module, name, None) for name in ("input_fn", "predict_fn", "output_fn")}
    model_fn = getattr(user_module, "model_fn", None) or transformer.default_model_fn
    transform_fn = getattr(user_module, "transform_fn", None)
    if transform_fn is not None:
        if any(handlers.values()):
            raise ValueError("transform_fn cannot be combined with input_fn, predict_fn or output_fn")
        return transformer.Transformer(model_fn=model_fn, transform_fn=transform_fn)
    return transformer.Transformer(
        model_fn=model_fn,
        input_fn=handlers["input_fn"] or _fallback_input,
        predict_fn=handlers["predict_fn"] or _fallback_predict,
        output_fn=handlers["output_fn"] or _fallback_output,
    )


def _load_user_module(name: str, location: str):
    from sagemaker_containers.beta.framework import modules

    started = time.perf_counter()
    try:
        module = importlib.import_module(name)
    except ImportError:  # not installed yet: let the toolkit fetch and install it
        module = modules.import_module(location, name)
    _timing("import", started, module=name)
    return module


_application = None


def _build_application():
    from sagemaker_containers.beta.framework import env, worker

    serving = env.ServingEnv()
    user_module = _load_user_module(serving.module_name, serving.module_dir)
    handlers = _transformer_for(user_module)
    started = time.perf_counter()
    handlers.initialize()  # calls model_fn(model_dir)
    _timing("model_fn", started)
    return worker.Worker(
        transform_fn=handlers.transform,
        module_name=serving.module_name,
        execution_parameters_fn=getattr(user_module, "execution_parameters_fn", None),
    )


def app(environ, start_response):
    """WSGI application of each gunicorn worker: built on the first request, then reused."""
    global _application
    if _application is None:
        _application = _build_application()
    return _application(environ, start_response)


def serve() -> None:
    """The image's ``serve`` command (single model): gunicorn behind the toolkit's ``server.start``."""
    from sagemaker_containers import _modules
    from sagemaker_containers.beta.framework import env, server

    install = _modules.install

    def timed_install(path, *args, **kwargs):
        started = time.perf_counter()
        try:
            return install(path, *args, **kwargs)
        finally:
            _timing("pip_install", started)

    fetch_and_import = _modules.import_module

    def timed_import(uri, name, *args, **kwargs):
        started = time.perf_counter()
        try:
            return fetch_and_import(uri, name, *args, **kwargs)
        finally:
            _timing("master_fetch_install_import", started, module=name)

    _modules.install = timed_install
    _modules.import_module = timed_import
    server.start(env.ServingEnv().framework_module)


if __name__ == "__main__":
    if sys.argv[1:] != ["serve"]:
        raise SystemExit("usage: python sklearn_image.py serve")
    serve()
