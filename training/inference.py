"""SageMaker inference handlers for the sentiment model (scikit-learn 1.9-0 container, script mode).

The request and response contract (JSON, CSV, plain text and JSON Lines requests; single and multi-record answers;
client errors 400, 406, 413, 415 with ``{"error": "<message>"}``) is ``serving_contract``'s, the same module the
transformer recipe's handlers use; docs/architecture.md, "Inference", has it in full.

Client errors. The container's serving stack (sagemaker-containers ``_transformer.Transformer``) wraps every
exception a handler raises into ``ClientError`` and lets Flask answer HTTP 500 with an HTML page; but a
response object returned by ``output_fn`` is passed to the client unchanged. So bad input is not raised:
``input_fn`` returns a ``RequestRejection`` value, ``predict_fn`` passes it through untouched, and ``output_fn``
renders it as a Flask ``Response`` with the 4xx status and ``{"error": "<message>"}`` (docs/model.md, "Serving:
how a client error reaches the client", has the source references).

Model: ``linear_scorer.npz`` when the model folder has it (the exported default model, scored with numpy only:
importing this module pulls in no scikit-learn, scipy or pandas), else ``model.joblib`` through scikit-learn,
imported only then. Either is loaded once per process and model folder.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import linear_scorer
import serving_contract
from flask import Response

MODEL_FILENAME = "model.joblib"


# --- model ------------------------------------------------------------------------------------------------
# One model per model folder and process: the serving stack calls model_fn on a worker's first request, and
# concurrent first requests (threads of one worker) must not each load it.
_MODELS: dict[str, object] = {}
_MODELS_LOCK = threading.Lock()


def model_fn(model_dir: str):
    """The model of ``model_dir``, loaded once per process (runs lazily on a worker's first request, ping included).

    Fast path: ``linear_scorer.npz`` (the exported default model; numpy only, well under a second). Otherwise
    ``model.joblib`` through scikit-learn, imported only then. A failed load is not remembered: the next call
    tries again.
    """
    key = os.path.abspath(model_dir)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = _load_model(Path(model_dir))
            _MODELS[key] = model
    return model


def _load_model(model_dir: Path):
    # One line per load: the cold-start benchmark counts loads per worker from it.
    logging.getLogger(__name__).info("model_fn: loading %s in process %d", model_dir, os.getpid())
    if (model_dir / linear_scorer.SCORER_FILENAME).is_file():
        return linear_scorer.LinearScorer.load(model_dir)
    path = model_dir / MODEL_FILENAME
    if not path.is_file():
        present = sorted(p.name for p in model_dir.iterdir()) if model_dir.is_dir() else []
        raise FileNotFoundError(f"model file {path} not found (model folder holds: {present})")
    import joblib  # scikit-learn, scipy and pandas come with it: seconds per worker, paid only on this path

    model = joblib.load(path)
    if not hasattr(model, "predict_proba"):
        raise TypeError(f"{path} holds a {type(model).__name__}, not a classifier with predict_proba")
    return model


def positive_probability(model, texts: list[str]):
    """P(positive) per text, for the linear scorer and the scikit-learn pipeline alike."""
    if isinstance(model, linear_scorer.LinearScorer):
        return model.positive_probability(texts)
    import sentiment_model

    return sentiment_model.positive_probability(model, texts)


# --- handlers (the contract is serving_contract's) ------------------------------------------------------
def input_fn(request_body, request_content_type):
    """Texts (or records) ready for ``predict_fn``, or a rejection. Never raises on client input."""
    return serving_contract.parse_request(request_body, request_content_type)


def predict_fn(input_data, model):
    """One prediction per text, in order; a rejection passes through untouched, a bad record stays its error."""
    return serving_contract.predict(input_data, lambda texts: positive_probability(model, texts))


def output_fn(prediction, accept):
    """A Flask ``Response``: 200 with the predictions (one JSON document, or one line per record for a
    multi-record Accept), or the 4xx of a rejection, or 406."""
    status, body, media_type = serving_contract.render(prediction, accept)
    return Response(body, status=status, mimetype=media_type)
