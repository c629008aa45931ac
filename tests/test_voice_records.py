"""``common/voice_records.py``: Amazon Transcribe's transcript JSON (its documented shapes) -> feedback records.

The documents below are written as Transcribe writes them: speaker separation (``speaker_labels.segments`` with
their items, ``results.items`` without labels: the older output), the newer output (labels on every item, plus
``audio_segments``), channel identification (``channel_labels.channels[].items``) and a plain transcript.
"""

from __future__ import annotations

import json
import struct

import pytest
import voice_records as vr

from tests.statemachine.voice_scenarios import channel_transcript, plain_transcript, speaker_transcript, wav_header

SOURCE = "voice/incoming/week-48/call-7.wav"


def test_speaker_labels_give_a_call_record_and_one_record_per_turn():
    records = vr.records_from_transcript(speaker_transcript("job"), SOURCE, audio_prefix="voice/incoming/")
    call, first, second = records
    assert call == {"review_id": f"{SOURCE}#call", "text": "Hello thanks for calling. The movie was wonderful.",
                    "source": SOURCE, "call_id": "week-48/call-7.wav", "turn": None, "speaker": None, "channel": None,
                    "start_time": 0.5, "end_time": 4.8}
    assert (first["turn"], first["speaker"], first["text"]) == (1, "spk_0", "Hello thanks for calling.")
    assert (second["turn"], second["speaker"], second["text"]) == (2, "spk_1", "The movie was wonderful.")
    assert (second["start_time"], second["end_time"]) == (3.0, 4.8) and second["review_id"] == f"{SOURCE}#turn-2"


def test_newer_output_with_labels_on_items_and_audio_segments():
    items = [
        {"id": 0, "type": "pronunciation", "start_time": "0.1", "end_time": "0.4", "speaker_label": "spk_0",
         "alternatives": [{"confidence": "0.9", "content": "Hi"}]},
        {"id": 1, "type": "punctuation", "alternatives": [{"confidence": "0.0", "content": "."}], "speaker_label": "spk_0"},
        {"id": 2, "type": "pronunciation", "start_time": "1.0", "end_time": "1.5", "speaker_label": "spk_1",
         "alternatives": [{"confidence": "0.9", "content": "Awful"}]},
        {"id": 3, "type": "pronunciation", "start_time": "1.5", "end_time": "2.0", "speaker_label": "spk_1",
         "alternatives": [{"confidence": "0.9", "content": "service"}]},
        {"id": 4, "type": "punctuation", "alternatives": [{"confidence": "0.0", "content": "!"}]},
    ]
    doc = {"results": {"transcripts": [{"transcript": "Hi. Awful service!"}], "items": items,
                       "speaker_labels": {"speakers": 2, "segments": []},
                       "audio_segments": [{"id": 0, "transcript": "Hi.", "start_time": "0.1", "end_time": "0.4",
                                           "speaker_label": "spk_0", "items": [0, 1]},
                                          {"id": 1, "transcript": "Awful service!", "start_time": "1.0",
                                           "end_time": "2.0", "speaker_label": "spk_1", "items": [2, 3, 4]}]}}
    _, hi, awful = vr.records_from_transcript(doc, SOURCE)
    assert (hi["text"], hi["speaker"]) == ("Hi.", "spk_0")
    assert (awful["text"], awful["speaker"], awful["start_time"], awful["end_time"]) == ("Awful service!", "spk_1", 1.0, 2.0)


def test_channel_identification_keeps_the_customer_channel():
    call, turn = vr.records_from_transcript(channel_transcript("job"), SOURCE, customer_channel="ch_1")
    assert (call["text"], call["channel"], call["speaker"], call["turn"]) == ("Terrible film, awful.", "ch_1", None, None)
    assert (turn["turn"], turn["channel"], turn["text"]) == (2, "ch_1", "Terrible film, awful.")
    agent = vr.records_from_transcript(channel_transcript("job"), SOURCE, customer_channel="ch_0")
    assert [r["text"] for r in agent] == ["How can I help?", "How can I help?"]


def test_a_plain_transcript_is_one_call_record():
    (call,) = vr.records_from_transcript(plain_transcript("job"), SOURCE)
    assert (call["text"], call["turn"], call["start_time"], call["end_time"]) == ("Great service.", None, 0.1, 1.0)


def test_silence_keeps_an_empty_call_record_and_bad_documents_are_named():
    (call,) = vr.records_from_transcript({"results": {"transcripts": [{"transcript": ""}], "items": []}}, SOURCE)
    assert call["text"] == "" and call["start_time"] is None  # the cleaning job quarantines it as empty_text
    with pytest.raises(vr.TranscriptError, match="not an Amazon Transcribe transcript"):
        vr.records_from_transcript({"transcript": "x"}, SOURCE)
    with pytest.raises(vr.TranscriptError, match="not a number"):
        vr.records_from_transcript({"results": {"transcripts": [], "items": [
            {"type": "pronunciation", "start_time": "soon", "alternatives": [{"content": "a"}]}]}}, SOURCE)


def test_json_lines_round_trip_in_field_order():
    records = vr.records_from_transcript(speaker_transcript("job"), SOURCE)
    lines = vr.to_json_lines(records).splitlines()
    assert [json.loads(line) for line in lines] == records
    assert list(json.loads(lines[0])) == list(vr.RECORD_FIELDS)


def test_media_formats_channel_counts_and_settings():
    assert vr.media_format("a/b/Call.WAV") == "wav" and vr.media_format("a/notes.txt") is None
    assert vr.media_format("a/b.c/noext") is None and vr.media_format("x.m4a", ("wav",)) is None
    assert vr.channel_count(wav_header(2), "wav") == 2 and vr.channel_count(wav_header(1), "wav") == 1
    streaminfo = struct.pack(">HH", 4096, 4096) + b"\0\0\0\0\0\0" + bytes([0x0B, 0xB8, 0x02, 0xF0]) + b"\0" * 4
    flac = b"fLaC" + b"\x00\x00\x00\x22" + streaminfo  # 48 kHz, 2 channels, 16 bits
    assert vr.channel_count(flac, "flac") == 2
    assert vr.channel_count(b"ID3" + b"\0" * 40, "mp3") is None and vr.channel_count(b"RIFF", "wav") is None
    assert vr.transcription_settings(2, 4) == {"ChannelIdentification": True}
    assert vr.transcription_settings(1, 4) == vr.transcription_settings(None, 4) == {
        "ShowSpeakerLabels": True, "MaxSpeakerLabels": 4}


def test_the_offline_transcript_has_the_shape_the_conversion_reads():
    words = [{"text": "so", "start": 0.5, "end": 0.7, "label": "ch_0"},
             {"text": "wonderful", "start": 1.0, "end": 1.6, "label": "ch_1"}]
    doc = vr.transcript_document(words, job_name="local-1", channels=["ch_0", "ch_1"])
    call, turn = vr.records_from_transcript(doc, "call.wav")
    assert call["text"] == "wonderful" and turn["turn"] == 2 and turn["channel"] == "ch_1"
    (plain,) = vr.records_from_transcript(vr.transcript_document(words, job_name="x"), "call.wav")
    assert plain["text"] == "so wonderful"
