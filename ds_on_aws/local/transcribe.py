"""``ds-on-aws transcribe``: the voice state machine's stages on one machine.

find the audio files (``voice.media_suffixes``) -> decode each (16-bit PCM WAV: the standard library; anything
else: PyAV, whose wheel ships FFmpeg's decoders) and resample to 16 kHz, 16-bit -> recognise speech with
PocketSphinx (its US English model ships in the wheel: nothing is downloaded) -> a transcript in Amazon Transcribe's shape (two-channel files: each channel recognised on its own,
as channel identification does) -> the feedback records (``common/voice_records.py``, the cloud's conversion) ->
optionally ``ds-on-aws score`` on them.

Run folder ``<output-dir>/transcribe-<time>/``: ``transcripts/<n>-<name>.json``, ``feedback.ndjson`` (the
records), ``run.json`` (files, failures with their reasons, durations). A file that cannot be decoded or
recognised is reported and the others go on; no file transcribed at all is exit 2.
"""

from __future__ import annotations

import io
import json
import math
import re
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import voice_records
from pipeline_contracts import VOICE_RECORDS_FILE

from ds_on_aws.config import PipelineConfig, load_config
from ds_on_aws.local.errors import UsageError
from ds_on_aws.local.pipeline import new_run_id

SAMPLE_RATE = 16000
FRAMES_PER_SECOND = 100  # PocketSphinx's default frame rate
_NOT_WORDS = re.compile(r"^(<.*>|\[.*\])$")  # <s>, </s>, <sil>, [NOISE]...


@dataclass
class TranscribeOptions:
    input: str
    output_dir: Path = Path("runs")
    score: bool = False
    model: Path | None = None
    progress_bar: bool = True
    config: PipelineConfig | None = None


@dataclass
class TranscribeResult:
    run_id: str
    run_dir: Path
    records_file: Path
    records: list[dict]
    failed: dict[str, str] = field(default_factory=dict)
    score: object | None = None  # the ScoreResult when --score


def _speech_packages():
    try:
        import av
        import pocketsphinx
    except ImportError as exc:  # pragma: no cover - both are pinned in requirements-local.txt
        raise UsageError(f"offline transcription needs the packages 'av' and 'pocketsphinx' ({exc}): "
                         "run `make install`") from exc
    return av, pocketsphinx


def _decode_wav(path: Path) -> list[bytes] | None:
    """A 16-bit PCM WAV read with the standard library and resampled (scipy's polyphase filter); None if not one."""
    import numpy as np
    from scipy.signal import resample_poly

    try:
        with wave.open(str(path)) as handle:
            if handle.getsampwidth() != 2 or handle.getcomptype() != "NONE":
                return None
            rate, channels = handle.getframerate(), handle.getnchannels()
            samples = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2").reshape(-1, channels)
    except (wave.Error, EOFError, ValueError):
        return None  # not a plain PCM WAV: PyAV reads it, or names the problem
    rows = [samples[:, 0], samples[:, 1]] if channels == 2 else [samples.mean(axis=1)]
    divisor = math.gcd(SAMPLE_RATE, rate)
    out = []
    for row in rows:
        resampled = resample_poly(row.astype(np.float64), SAMPLE_RATE // divisor, rate // divisor)
        out.append(np.clip(np.round(resampled), -32768, 32767).astype("<i2").tobytes())
    return out


def decode_audio(path: Path) -> list[bytes]:
    """16 kHz 16-bit PCM of ``path``: one buffer per channel for two-channel audio, else one mono mix.

    A plain 16-bit PCM WAV is read with the standard library; everything else with PyAV (FFmpeg's decoders).
    """
    if path.suffix.lower() == ".wav" and (pcm := _decode_wav(path)) is not None:
        if not any(pcm):
            raise UsageError(f"{path}: the audio is empty")
        return pcm
    return _decode_with_av(path)


def _decode_with_av(path: Path) -> list[bytes]:
    av, _ = _speech_packages()
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise UsageError(f"{path}: no audio stream")
            stream = container.streams.audio[0]
            two = stream.codec_context.channels == 2
            resampler = av.AudioResampler(format="s16p", layout="stereo" if two else "mono", rate=SAMPLE_RATE)
            planes: list[list[bytes]] = [[] for _ in range(2 if two else 1)]
            frames = [*container.decode(stream), None]
            for frame in frames:
                for out in resampler.resample(frame):
                    array = out.to_ndarray()
                    for channel, row in enumerate(array):
                        planes[channel].append(row.tobytes())
    except av.error.FFmpegError as exc:
        raise UsageError(f"{path}: cannot decode the audio ({exc})") from exc
    pcm = [b"".join(chunks) for chunks in planes]
    if not any(pcm):
        raise UsageError(f"{path}: the audio is empty")
    return pcm


class Recogniser:
    """PocketSphinx with its packaged US English model; each speech segment (its voice activity detector) decoded."""

    def __init__(self) -> None:
        _, ps = _speech_packages()
        ps.set_loglevel("FATAL")
        self._ps = ps
        self._decoder = ps.Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")

    def words(self, pcm: bytes, label: str | None = None) -> list[dict]:
        """Recognised words ``{text, start, end, label}`` (seconds from the start of the audio)."""
        found = []
        for segment in self._ps.Segmenter(sample_rate=SAMPLE_RATE).segment(io.BytesIO(pcm)):
            self._decoder.start_utt()
            self._decoder.process_raw(segment.pcm, full_utt=True)
            self._decoder.end_utt()
            for seg in self._decoder.seg():
                word = re.sub(r"\(\d+\)$", "", seg.word)
                if _NOT_WORDS.match(word):
                    continue
                found.append({"text": word, "start": segment.start_time + seg.start_frame / FRAMES_PER_SECOND,
                              "end": segment.start_time + (seg.end_frame + 1) / FRAMES_PER_SECOND, "label": label})
        return found


def transcribe_file(recogniser: Recogniser, path: Path, job_name: str) -> dict:
    """One file's transcript in Amazon Transcribe's shape (``channel_labels`` for two-channel audio)."""
    channels = decode_audio(path)
    if len(channels) == 2:
        labels = ["ch_0", "ch_1"]
        words = [w for label, pcm in zip(labels, channels, strict=True) for w in recogniser.words(pcm, label)]
        return voice_records.transcript_document(words, job_name=job_name, channels=labels)
    return voice_records.transcript_document(recogniser.words(channels[0]), job_name=job_name)


def audio_files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Audio files under ``folder`` (or ``folder`` itself), sorted; an error when there are none."""
    if not folder.exists():
        raise UsageError(f"input not found: {folder}")
    candidates = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
    found = [p for p in candidates if voice_records.media_format(p.name, suffixes)]
    if not found:
        raise UsageError(f"no audio files ({', '.join(suffixes)}) under {folder}")
    return found


def _source(path: Path, root: Path) -> str:
    base = root if root.is_dir() else root.parent
    return path.relative_to(base).as_posix()


def transcribe(options: TranscribeOptions, echo: Callable[[str], None] = print) -> TranscribeResult:
    """Transcribe every audio file, write the records; with ``score``, score them. Failed files are reported."""
    config = options.config or load_config()
    root = Path(options.input).resolve()
    files = audio_files(root, config.voice.media_suffixes)
    run_id, run_dir = new_run_id(Path(options.output_dir).resolve(), kind="transcribe")
    echo(f"ds-on-aws transcription run {run_id} -> {run_dir}: {len(files)} audio file(s) under {root}")
    recogniser, records, failed, started = Recogniser(), [], {}, time.perf_counter()
    (run_dir / "transcripts").mkdir()
    for number, path in enumerate(files, start=1):
        source, began = _source(path, root), time.perf_counter()
        try:
            transcript = transcribe_file(recogniser, path, f"{run_id}-{number}")
            found = voice_records.records_from_transcript(
                transcript, source, customer_channel=config.voice.customer_channel)
        except (UsageError, voice_records.TranscriptError) as exc:
            failed[source] = str(exc)
            echo(f"  [{number}/{len(files)}] {source}: FAILED: {exc}")
            continue
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", source)
        (run_dir / "transcripts" / f"{number}-{name}.json").write_text(json.dumps(transcript, indent=1), "utf-8")
        records.extend(found)
        echo(f"  [{number}/{len(files)}] {source}: {len(found)} record(s) in {time.perf_counter() - began:.1f} s: "
             f"{found[0]['text'][:80]!r}")
    records_file = run_dir / VOICE_RECORDS_FILE
    records_file.write_text(voice_records.to_json_lines(records), encoding="utf-8")
    run = {"run_id": run_id, "input": str(root), "files": len(files), "transcribed": len(files) - len(failed),
           "failed": failed, "records": len(records), "records_file": str(records_file),
           "seconds": round(time.perf_counter() - started, 2)}
    (run_dir / "run.json").write_text(json.dumps(run, indent=2), encoding="utf-8")
    echo(f"  {run['transcribed']} of {len(files)} file(s) transcribed, {len(failed)} failed; {len(records)} "
         f"record(s) in {records_file}")
    if not records:
        raise UsageError(f"no audio file could be transcribed ({len(failed)} failed; see {run_dir / 'run.json'})")
    result = TranscribeResult(run_id, run_dir, records_file, records, failed)
    if options.score:
        from ds_on_aws.local.scoring import ScoreOptions, score

        result.score = score(ScoreOptions(input=str(records_file), model=options.model, output_dir=options.output_dir,
                                          progress_bar=options.progress_bar, config=config), echo=echo)
    else:
        echo(f"  next: ds-on-aws score --input {records_file}")
    return result
