"""Transcripts -> feedback records: the one conversion the voice state machine and ``ds-on-aws transcribe`` share.

Standard library only (it runs in the voice Lambda function and offline). The input is Amazon Transcribe's
transcript JSON as its batch jobs write it: ``results.transcripts[].transcript``, ``results.items[]``
(``type`` ``pronunciation`` with ``start_time``/``end_time`` or ``punctuation``, ``alternatives[0].content``, and on
newer outputs ``speaker_label``/``channel_label``), ``results.speaker_labels.segments[]`` (speaker separation),
``results.channel_labels.channels[]`` (channel identification, each channel with its own ``items``) and, on newer
outputs, ``results.audio_segments[]``. The offline command writes the same shape from its own recogniser.

Records (JSON Lines, one per call, then one per turn when turns are known):

* ``review_id``: ``<source>#call`` or ``<source>#turn-<n>`` (n counts every turn of the call from 1, in time order),
  stable for the same audio key;
* ``text``: what was said (the call record: the customer channel's words on a two-channel call, else the whole
  transcript; a turn record: that turn's words);
* ``source``: the audio's S3 key (offline: its path under the input folder); ``call_id``: the key without the audio
  prefix; ``turn``: null for the call record; ``speaker`` (``spk_0``...) or ``channel`` (``ch_0``/``ch_1``), the
  other null; ``start_time``/``end_time``: seconds from the start of the audio, null when no word was heard.

Two-channel calls (channel identification) keep only the customer channel's turns: the agent's words are not
customer feedback. Speaker-separated calls keep every speaker's turns (which speaker is the customer is not known;
the ``speaker`` column tells them apart).
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterable, Mapping, Sequence

RECORD_FIELDS = ("review_id", "text", "source", "call_id", "turn", "speaker", "channel", "start_time", "end_time")
#: Media formats Amazon Transcribe batch jobs accept (StartTranscriptionJob ``MediaFormat``).
TRANSCRIBE_MEDIA_FORMATS = ("mp3", "mp4", "wav", "flac", "ogg", "amr", "webm", "m4a")
HEADER_BYTES = 4096  # enough for a RIFF/WAVE "fmt " chunk or a FLAC STREAMINFO block after a small ID3 tag
_ATTACHED = re.compile(r"^[,.?!;:%)\]}'’]")


class TranscriptError(ValueError):
    """A transcript document that is not Amazon Transcribe's shape; the message names what is wrong."""


# --- audio keys and Transcribe settings ------------------------------------------------------------------------------


def media_format(key: str, suffixes: Sequence[str] = TRANSCRIBE_MEDIA_FORMATS) -> str | None:
    """The media format of ``key`` from its suffix (``call.WAV`` -> ``wav``), or None when it is not one of ``suffixes``."""
    suffix = key.rsplit(".", 1)[-1].lower() if "." in key.rsplit("/", 1)[-1] else ""
    return suffix if suffix in suffixes else None


def channel_count(header: bytes, fmt: str) -> int | None:
    """The channel count in the first bytes of a WAV or FLAC file, or None (other formats, or not found)."""
    if fmt == "wav" and header[:4] in (b"RIFF", b"RF64") and header[8:12] == b"WAVE":
        position = 12
        while position + 8 <= len(header):
            chunk, size = header[position:position + 4], struct.unpack("<I", header[position + 4:position + 8])[0]
            if chunk == b"fmt " and position + 12 <= len(header):
                return struct.unpack("<H", header[position + 10:position + 12])[0]
            position += 8 + size + (size & 1)
        return None
    if fmt == "flac":
        start = header.find(b"fLaC")
        # STREAMINFO is the first metadata block: 4-byte block header, then 10 bytes before the packed field that
        # holds the sample rate (20 bits), channels - 1 (3 bits) and bits per sample.
        if start >= 0 and len(header) >= start + 8 + 13 and header[start + 4] & 0x7F == 0:
            return ((header[start + 8 + 12] >> 1) & 0x07) + 1
    return None


def transcription_settings(channels: int | None, max_speakers: int) -> dict:
    """StartTranscriptionJob ``Settings``: channel identification for two-channel audio, else speaker labels."""
    if channels == 2:
        return {"ChannelIdentification": True}
    return {"ShowSpeakerLabels": True, "MaxSpeakerLabels": max_speakers}


def call_id_of(source: str, audio_prefix: str = "") -> str:
    """The call's id: its key without the audio prefix (``voice/incoming/2026/call-7.wav`` -> ``2026/call-7.wav``)."""
    return source[len(audio_prefix):] if audio_prefix and source.startswith(audio_prefix) else source


def review_id(source: str, turn: int | None) -> str:
    return f"{source}#call" if turn is None else f"{source}#turn-{turn}"


# --- transcript -> words -> turns ----------------------------------------------------------------------------------


def _results(transcript: Mapping) -> Mapping:
    results = transcript.get("results") if isinstance(transcript, Mapping) else None
    if not isinstance(results, Mapping) or not isinstance(results.get("transcripts", []), list):
        raise TranscriptError("not an Amazon Transcribe transcript: no 'results' object with a 'transcripts' list")
    return results


def _seconds(value) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError) as exc:
        raise TranscriptError(f"a time that is not a number: {value!r}") from exc


def _content(item: Mapping) -> str:
    alternatives = item.get("alternatives") or [{}]
    return str(alternatives[0].get("content", "")).strip()


def _words(items: Iterable[Mapping], label: str | None = None, speakers: Mapping | None = None) -> list[dict]:
    """Items as ``{text, start, end, label, punctuation}``; punctuation takes the label of the word before it."""
    words, last = [], label
    for item in items:
        text = _content(item)
        if not text:
            continue
        punctuation = item.get("type") == "punctuation"
        start = _seconds(item.get("start_time"))
        found = item.get("channel_label") or item.get("speaker_label") or label
        if found is None and speakers is not None and start is not None:
            found = speakers.get(start)
        if punctuation:
            found = last
        words.append({"text": text, "start": start, "end": _seconds(item.get("end_time")), "label": found,
                      "punctuation": punctuation})
        last = found
    return words


def labelled_words(results: Mapping) -> tuple[str | None, list[dict]]:
    """(``"channel"``, ``"speaker"`` or None, the words in time order, each with its label)."""
    channels = (results.get("channel_labels") or {}).get("channels")
    items = results.get("items") or []
    if channels and not any(item.get("channel_label") for item in items):
        words = [w for ch in channels for w in _words(ch.get("items") or [], ch.get("channel_label"))]
        # Stable sort by the time of the word (punctuation: of the word it follows), channel order breaking ties.
        keyed, clock = [], 0.0
        for w in words:
            clock = w["start"] if w["start"] is not None else clock
            keyed.append((clock, w))
        return "channel", [w for _, w in sorted(keyed, key=lambda pair: pair[0])]
    if channels:
        return "channel", _words(items)
    segments = (results.get("speaker_labels") or {}).get("segments") or []
    speakers = {_seconds(i.get("start_time")): i.get("speaker_label") for s in segments for i in s.get("items") or []}
    if segments or any(item.get("speaker_label") for item in items):
        return "speaker", _words(items, speakers=speakers)
    return None, _words(items)


def join_words(words: Sequence[Mapping]) -> str:
    """Words and punctuation as text: a space before each word, none before punctuation."""
    text = ""
    for w in words:
        attached = w["punctuation"] or _ATTACHED.match(w["text"])
        text += w["text"] if (attached or not text) else " " + w["text"]
    return text.strip()


def turns_of(words: Sequence[Mapping]) -> list[list[dict]]:
    """Maximal runs of consecutive words with the same label (a speaker's or a channel's turn)."""
    turns: list[list[dict]] = []
    for w in words:
        if turns and turns[-1][-1]["label"] == w["label"]:
            turns[-1].append(w)
        elif turns and w["punctuation"]:
            turns[-1].append(w)
        else:
            turns.append([dict(w)])
    return turns


def _span(words: Sequence[Mapping]) -> tuple[float | None, float | None]:
    starts = [w["start"] for w in words if w["start"] is not None]
    ends = [w["end"] for w in words if w["end"] is not None]
    return (min(starts) if starts else None, max(ends) if ends else None)


# --- records ---------------------------------------------------------------------------------------------------------


def _record(source: str, call_id: str, turn: int | None, text: str, kind: str | None, label: str | None,
            words: Sequence[Mapping]) -> dict:
    start, end = _span(words)
    return {"review_id": review_id(source, turn), "text": text, "source": source, "call_id": call_id, "turn": turn,
            "speaker": label if kind == "speaker" else None, "channel": label if kind == "channel" else None,
            "start_time": start, "end_time": end}


def records_from_transcript(transcript: Mapping, source: str, *, audio_prefix: str = "",
                            customer_channel: str = "ch_1") -> list[dict]:
    """The feedback records of one call: the call record first, then one per (customer) turn when turns are known."""
    results = _results(transcript)
    kind, words = labelled_words(results)
    call_id = call_id_of(source, audio_prefix)
    turns = turns_of(words) if kind else []
    if kind == "channel":
        customer = [w for w in words if w["label"] == customer_channel]
        call = _record(source, call_id, None, join_words(customer), kind, customer_channel, customer)
    else:
        whole = " ".join(str(t.get("transcript", "")).strip() for t in results.get("transcripts") or []).strip()
        call = _record(source, call_id, None, whole or join_words(words), None, None, words)
    records = [call]
    for number, turn in enumerate(turns, start=1):
        label = turn[0]["label"]
        if kind == "channel" and label != customer_channel:
            continue
        text = join_words(turn)
        if text and label is not None:
            records.append(_record(source, call_id, number, text, kind, label, turn))
    return records


def to_json_lines(records: Iterable[Mapping]) -> str:
    """Records as JSON Lines in :data:`RECORD_FIELDS` order (UTF-8 text, one object a line)."""
    return "".join(json.dumps({k: r.get(k) for k in RECORD_FIELDS}, ensure_ascii=False) + "\n" for r in records)


def transcript_document(words: Sequence[Mapping], *, job_name: str, channels: Sequence[str] | None = None) -> dict:
    """A transcript in Transcribe's shape from recognised words ``{text, start, end[, label]}`` (the offline path).

    With ``channels`` (e.g. ``["ch_0", "ch_1"]``) the words' labels are channels and ``channel_labels`` is written,
    as channel identification writes it; otherwise a plain transcript.
    """
    def item(w: Mapping) -> dict:
        return {"start_time": f"{w['start']:.3f}", "end_time": f"{w['end']:.3f}", "type": "pronunciation",
                "alternatives": [{"confidence": str(w.get("confidence", "1.0")), "content": w["text"]}]}

    ordered = sorted(words, key=lambda w: w["start"])
    results: dict = {"transcripts": [{"transcript": " ".join(w["text"] for w in ordered)}],
                     "items": [item(w) for w in ordered]}
    if channels:
        results["channel_labels"] = {
            "number_of_channels": len(channels),
            "channels": [{"channel_label": ch, "items": [item(w) for w in ordered if w.get("label") == ch]}
                         for ch in channels],
        }
    return {"jobName": job_name, "status": "COMPLETED", "results": results}
