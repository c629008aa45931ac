"""``ds-on-aws transcribe``: spoken reviews synthesized with espeak-ng, recognised offline, turned into feedback.

The audio is made in the test (espeak-ng, US English voice, slowly: 120 words a minute), so every assertion is about
real recognition of real speech: the words that matter for the sentiment are heard, a file another format holds
(FLAC, Ogg Opus: PyAV encodes them) gives the same words, a two-channel call keeps the customer channel's turns, a
broken file is reported while the others go on, and (with Spark) the records reach the predictions table with a
sentiment. espeak-ng is installed by ``make install`` where the user may (root); without it these tests skip.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pipeline_contracts import predictions_run_key

from ds_on_aws.cli import main
from ds_on_aws.local import transcribe as offline
from tests.local.test_score import _score_mode_available, model_dir  # noqa: F401 (the trained-model fixture)

ESPEAK = shutil.which("espeak-ng")
pytestmark = pytest.mark.skipif(ESPEAK is None, reason="espeak-ng is not installed (make install, as root, installs "
                                                       "it; else: apt-get install espeak-ng)")
POSITIVE = "this movie was wonderful i loved it"
NEGATIVE = "terrible film awful boring"


def speak(text: str, path: Path) -> Path:
    subprocess.run([ESPEAK, "-v", "en-us", "-s", "120", "-w", str(path), text], check=True, capture_output=True)
    return path


def convert(source: Path, target: Path, codec: str, rate: int) -> Path:
    """Re-encode ``source`` as ``target`` (mono) with PyAV's bundled encoders."""
    import av

    with av.open(str(source)) as src, av.open(str(target), "w") as dst:
        stream = dst.add_stream(codec, rate=rate, layout="mono")
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=rate)
        for frame in [*src.decode(src.streams.audio[0]), None]:
            for out in resampler.resample(frame):
                for packet in stream.encode(out):
                    dst.mux(packet)
        for packet in stream.encode(None):
            dst.mux(packet)
    return target


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as handle:
        return np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2"), handle.getframerate()


def stereo_call(agent: Path, customer: Path, target: Path) -> Path:
    """A two-channel call: the agent speaks on the left channel (ch_0), then the customer on the right (ch_1)."""
    left, rate = read_wav(agent)
    right, _ = read_wav(customer)
    gap = np.zeros(rate // 2, dtype="<i2")
    ch0 = np.concatenate([left, gap, np.zeros_like(right)])
    ch1 = np.concatenate([np.zeros_like(left), gap, right])
    with wave.open(str(target), "wb") as handle:
        handle.setnchannels(2)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(np.stack([ch0, ch1], axis=1).astype("<i2").tobytes())
    return target


@pytest.fixture(scope="module")
def calls(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("calls")
    speak(POSITIVE, folder / "happy.wav")
    negative = speak(NEGATIVE, tmp_path_factory.mktemp("spoken") / "negative.wav")
    (folder / "week-48").mkdir()
    convert(negative, folder / "week-48" / "unhappy.flac", "flac", 16000)
    (folder / "broken.mp3").write_bytes(b"ID3 this is not audio")
    (folder / "notes.txt").write_text("not audio, not picked up", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def transcribed(calls, tmp_path_factory):
    return offline.transcribe(offline.TranscribeOptions(input=str(calls), output_dir=tmp_path_factory.mktemp("runs")),
                              echo=lambda line: None)


def call_record(result, source: str) -> dict:
    found = [r for r in result.records if r["review_id"] == f"{source}#call"]
    assert len(found) == 1, result.records
    return found[0]


def test_spoken_reviews_are_recognised_and_broken_files_reported(transcribed):
    assert set(transcribed.failed) == {"broken.mp3"} and "cannot decode" in transcribed.failed["broken.mp3"]
    happy, unhappy = call_record(transcribed, "happy.wav"), call_record(transcribed, "week-48/unhappy.flac")
    assert "wonderful" in happy["text"].split() and "movie" in happy["text"].split()
    assert "awful" in unhappy["text"].split()
    assert happy["source"] == "happy.wav" and happy["call_id"] == "happy.wav" and happy["turn"] is None
    assert 0 <= happy["start_time"] < happy["end_time"] <= 5
    written = [json.loads(line) for line in transcribed.records_file.read_text(encoding="utf-8").splitlines()]
    assert written == transcribed.records
    run = json.loads((transcribed.run_dir / "run.json").read_text(encoding="utf-8"))
    assert run["files"] == 3 and run["transcribed"] == 2 and list(run["failed"]) == ["broken.mp3"]
    transcripts = sorted((transcribed.run_dir / "transcripts").iterdir())
    assert len(transcripts) == 2 and "results" in json.loads(transcripts[0].read_text(encoding="utf-8"))


def test_other_encodings_and_both_decoders_give_the_same_words(tmp_path):
    spoken = speak(NEGATIVE, tmp_path / "negative.wav")  # 22,050 Hz 16-bit PCM: read with the standard library
    converted = convert(spoken, tmp_path / "negative.ogg", "libopus", 48000)
    recogniser = offline.Recogniser()
    stdlib_pcm, av_pcm = offline.decode_audio(spoken), offline._decode_with_av(spoken)
    assert len(stdlib_pcm) == len(av_pcm) == 1
    seconds = read_wav(spoken)[0].size / read_wav(spoken)[1]
    assert abs(len(stdlib_pcm[0]) / 2 / offline.SAMPLE_RATE - seconds) < 0.01  # resampled to 16 kHz, same length
    words = {name: [w["text"] for w in recogniser.words(pcm[0])]
             for name, pcm in (("wav", stdlib_pcm), ("wav via PyAV", av_pcm), ("ogg", offline.decode_audio(converted)))}
    assert all("awful" in found for found in words.values()), words


def test_a_two_channel_call_keeps_the_customer_channel(tmp_path):
    agent = speak("hello thank you for calling how can i help", tmp_path / "agent.wav")
    customer = speak(POSITIVE, tmp_path / "customer.wav")
    folder = tmp_path / "in"
    folder.mkdir()
    stereo_call(agent, customer, folder / "call.wav")
    result = offline.transcribe(offline.TranscribeOptions(input=str(folder), output_dir=tmp_path / "runs"),
                                echo=lambda line: None)
    call, *turns = result.records
    assert call["channel"] == "ch_1" and call["speaker"] is None
    assert "wonderful" in call["text"].split() and "calling" not in call["text"].split()
    assert turns and all(t["channel"] == "ch_1" for t in turns)
    assert all(t["review_id"] == f"call.wav#turn-{t['turn']}" for t in turns)
    assert call["start_time"] > 1.0  # the customer speaks after the agent


def test_cli_exit_codes(tmp_path, capsys):
    assert main(["transcribe", "--input", str(tmp_path / "missing"), "--output-dir", str(tmp_path)]) == 2
    assert "input not found" in capsys.readouterr().err
    (tmp_path / "only-broken").mkdir()
    (tmp_path / "only-broken" / "x.wav").write_bytes(b"RIFF....WAVE")
    assert main(["transcribe", "--input", str(tmp_path / "only-broken"), "--output-dir", str(tmp_path / "r")]) == 2
    assert "no audio file could be transcribed" in capsys.readouterr().err


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.skipif(not _score_mode_available(), reason="the cleaning job has no --mode score yet")
def test_spoken_reviews_reach_the_predictions_with_a_sentiment(calls, tmp_path, model_dir, capsys):  # noqa: F811
    code = main(["transcribe", "--input", str(calls), "--output-dir", str(tmp_path / "runs"), "--score",
                 "--model", str(model_dir), "--no-progress"])
    assert code == 0, capsys.readouterr()
    (score_dir,) = [d for d in (tmp_path / "runs").iterdir() if d.name.startswith("score-")]
    table = pd.read_parquet(score_dir / "curated" / predictions_run_key(score_dir.name))
    by_id = table.set_index("review_id")
    assert by_id.loc["happy.wav#call", "label"] == "positive"
    assert by_id.loc["week-48/unhappy.flac#call", "label"] == "negative"
    # the records' context columns reach the table: the audio's key as source, the rest in context
    assert by_id.loc["happy.wav#call", "source"] == "happy.wav"
    assert by_id.loc["week-48/unhappy.flac#call", "source"] == "week-48/unhappy.flac"
    context = dict(by_id.loc["week-48/unhappy.flac#call", "context"])
    assert context["call_id"] == "week-48/unhappy.flac" and "turn" not in context  # null context stays out
