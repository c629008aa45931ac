"""Stand-ins that follow the SageMaker contracts exactly, to test the runner's machinery on its own.

They are NOT the project's model: the end-to-end tests use the real ``training/`` code. These let the launcher and
the serving emulation be tested in isolation (and fail when the machinery breaks the contract).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

FAKE_TRAIN = textwrap.dedent('''
    """Records how it was launched; fails on request; prints metric lines like train.py."""
    import json, os, sys
    from pathlib import Path
    import review_text  # shipped at the root of sourcedir.tar.gz

    model_dir = Path(os.environ["SM_MODEL_DIR"])
    if "--fail" in sys.argv:
        Path(os.environ["SM_OUTPUT_DIR"], "failure").write_text("ValueError: --fail was asked for")
        sys.exit(1)
    record = {"argv": sys.argv[1:], "cwd": os.getcwd(), "normalized": review_text.normalize_text("a<br />b"),
              "env": {k: v for k, v in os.environ.items() if k.startswith("SM_")}}
    (model_dir / "launch.json").write_text(json.dumps(record))
    (model_dir / "model.joblib").write_bytes(b"not really a model")
    print("validation:accuracy=0.5000")
    print("[2026-11-26 10:00:00] validation:accuracy=0.9100 validation:f1=0.9050")
    print("validation:roc_auc=0.97")
''')

FAKE_INFERENCE = textwrap.dedent('''
    """Echoes what the serving stack handed to each handler; answers client errors itself."""
    import json
    from pathlib import Path
    from flask import Response

    def model_fn(model_dir):
        model_dir = Path(model_dir)
        counter = model_dir / "loads.txt"
        counter.write_text(str(int(counter.read_text()) + 1 if counter.exists() else 1))
        if (model_dir / "broken").exists():
            raise RuntimeError("model cannot be loaded")
        return {"model_dir": str(model_dir)}

    def input_fn(body, content_type):
        text = body if isinstance(body, str) else body.decode("utf-8")
        return {"body_type": type(body).__name__, "content_type": content_type, "text": text}

    def predict_fn(data, model):
        if data["text"] == "boom":
            raise ValueError("handler crashed")
        return data

    def output_fn(prediction, accept):
        if prediction["text"] == "client-error":
            return Response(json.dumps({"error": "bad input named here"}), status=400, mimetype="application/json")
        if prediction["text"].startswith("{"):  # a JSON request: answer like the real model
            try:
                instances = json.loads(prediction["text"]).get("instances", [])
            except ValueError as exc:
                return Response(json.dumps({"error": f"malformed JSON: {exc}"}), status=400,
                                mimetype="application/json")
            return json.dumps({"predictions": [
                {"label": "positive" if "good" in t or "wonderful" in t else "negative", "score": 0.9}
                for t in instances]}), "application/json"
        return json.dumps({**prediction, "accept": accept}), accept
''')


def make_training_dir(folder: Path) -> Path:
    """A ``training/`` folder with the fake ``train.py`` and ``inference.py``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.py").write_text(FAKE_TRAIN)
    (folder / "inference.py").write_text(FAKE_INFERENCE)
    return folder


def make_code_dir(folder: Path, module: str = "inference") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.py").write_text(FAKE_INFERENCE)
    return folder
