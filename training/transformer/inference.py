"""Inference handlers of the transformer recipe: the linear model's request and response contract, a PyTorch model.

Served by the Hugging Face PyTorch inference image (its toolkit imports ``code/inference.py`` from the model
archive and calls ``model_fn(model_dir, context)``, ``input_fn(body, content_type, context)``,
``predict_fn(data, model, context)``, ``output_fn(prediction, accept, context)``; it passes ``context`` to a handler
that declares it). The offline endpoint and the tests call the same handlers without a context, as the
scikit-learn image's worker does.

Request and response: ``serving_contract``'s, the module the linear recipe's handlers use too (docs/architecture.md,
"Inference"), proven by one set of contract tests run against both (tests/training/test_inference.py): JSON, CSV,
plain text and JSON Lines requests, single answers and Batch Transform's multi-record answers (one line per
record, a bad record its own error line), client errors 400, 406, 413, 415 with ``{"error": "<message>"}``, never
a 500.

Client errors on each serving stack: ``input_fn`` returns a rejection value, ``predict_fn`` passes it through, and
``output_fn`` renders it. With the Hugging Face toolkit's context, ``output_fn`` sets the status on the model
server's response (``context.set_response_status``) and returns the body (the toolkit sets the content type from
the Accept header); without a context it returns ``(body, media type)``, or a werkzeug response carrying the
status of an error (the scikit-learn-style worker passes response objects through).

Model: ``config.json`` + ``model.safetensors`` + the tokenizer saved by ``train.py``, loaded once per process and
model folder; texts are truncated to the length the model was fine-tuned with (``tokenizer.model_max_length``) and
scored in batches of ``SENTIMENT_PREDICT_BATCH`` (default 32) without gradients, on the GPU when there is one.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import serving_contract

MODEL_CONFIG = "config.json"
PREDICT_BATCH = serving_contract.env_limit("SENTIMENT_PREDICT_BATCH", 32)


# --- model ------------------------------------------------------------------------------------------------
_MODELS: dict[str, object] = {}
_MODELS_LOCK = threading.Lock()


class SentimentTransformer:
    """A fine-tuned sequence classifier and its tokenizer; ``positive_probability(texts)`` like the linear scorer."""

    def __init__(self, model_dir: Path):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self._torch = torch
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForSequenceClassification.from_pretrained(model_dir).to(self.device).eval()
        label2id = {name.lower(): index for name, index in self.model.config.label2id.items()}
        if "positive" not in label2id:
            raise ValueError(f"{model_dir / MODEL_CONFIG} names no 'positive' label (labels: {sorted(label2id)})")
        self.positive_index = label2id["positive"]

    def positive_probability(self, texts: list[str]):
        import numpy as np

        torch = self._torch
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), PREDICT_BATCH):
                batch = self.tokenizer(texts[start:start + PREDICT_BATCH], truncation=True, padding=True,
                                       return_tensors="pt").to(self.device)
                logits = self.model(**batch).logits.float()
                out.append(torch.softmax(logits, dim=-1)[:, self.positive_index].cpu().numpy())
        return np.concatenate(out).astype(np.float64)


def model_fn(model_dir: str, context=None):
    """The model of ``model_dir``, loaded once per process; a failed load is not remembered (the next call retries)."""
    key = os.path.abspath(model_dir)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            path = Path(model_dir)
            if not (path / MODEL_CONFIG).is_file():
                present = sorted(p.name for p in path.iterdir()) if path.is_dir() else []
                raise FileNotFoundError(f"model file {path / MODEL_CONFIG} not found (model folder holds: {present})")
            logging.getLogger(__name__).info("model_fn: loading %s in process %d", path, os.getpid())
            model = SentimentTransformer(path)
            _MODELS[key] = model
    return model


# --- handlers (the contract is serving_contract's) ------------------------------------------------------
def input_fn(request_body, request_content_type, context=None):
    """Texts (or records) ready for ``predict_fn``, or a rejection. Never raises on client input."""
    return serving_contract.parse_request(request_body, request_content_type)


def predict_fn(input_data, model, context=None):
    """One prediction per text, in order; a rejection passes through untouched, a bad record stays its error."""
    return serving_contract.predict(input_data, model.positive_probability)


def output_fn(prediction, accept, context=None):
    """200 with the predictions (one JSON document, or one line per record for a multi-record Accept), or the 4xx
    of a rejection, or 406, on either serving stack (see the module docstring)."""
    status, body, media_type = serving_contract.render(prediction, accept)
    if context is not None:
        if status != 200:
            context.set_response_status(status, "client error")
        return body
    if status == 200:
        return body, media_type
    from werkzeug.wrappers import Response  # the offline worker (Flask); the Hugging Face image takes the branch above

    return Response(body, status=status, mimetype=media_type)
