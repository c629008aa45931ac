"""The voice Lambda function (``stacks/constructs/voice_runtime/index.py``) on moto's S3: listing and records.

The state-machine paths (tests/statemachine/test_voice_paths.py) run the same handler inside whole executions; these
tests pin its edges: one file or a prefix, suffixes, the file limit, headers that cannot be read, transcripts that
are missing or not JSON, SSE-KMS on the records it writes.
"""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from tests.statemachine.voice_scenarios import KEY_ARN, load_runtime, speaker_transcript, wav_header

RAW, CURATED, PREFIX = "raw-bucket", "curated-bucket", "voice/incoming/"


@pytest.fixture
def s3(monkeypatch):
    env = {"RAW_BUCKET": RAW, "CURATED_BUCKET": CURATED, "AUDIO_PREFIX": PREFIX, "RECORDS_PREFIX": "feedback/voice/",
           "MEDIA_SUFFIXES": "wav,mp3,flac", "MAX_SPEAKERS": "3", "CUSTOMER_CHANNEL": "ch_1", "MAX_FILES": "3",
           "KMS_KEY_ARN": KEY_ARN, "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        for bucket in (RAW, CURATED):
            client.create_bucket(Bucket=bucket)
        load_runtime().s3 = client
        yield client


def handler(event):
    return load_runtime().handler(event)


def listing(uri: str) -> dict:
    return handler({"action": "list", "input_s3_uri": uri, "run_id": "run-1", "job_prefix": "ds-on-aws-abc"})


def test_a_prefix_is_listed_with_settings_per_file(s3):
    s3.put_object(Bucket=RAW, Key=f"{PREFIX}b/stereo.wav", Body=wav_header(2))
    s3.put_object(Bucket=RAW, Key=f"{PREFIX}a/mono.WAV", Body=wav_header(1))
    s3.put_object(Bucket=RAW, Key=f"{PREFIX}a/call.mp3", Body=b"ID3")
    s3.put_object(Bucket=RAW, Key=f"{PREFIX}a/readme.txt", Body=b"-")
    found = listing(f"s3://{RAW}/{PREFIX}")
    assert found["count"] == 3 and found["skipped"] == [f"{PREFIX}a/readme.txt"]
    by_key = {f["key"]: f for f in found["files"]}
    assert by_key[f"{PREFIX}b/stereo.wav"]["settings"] == {"ChannelIdentification": True}
    assert by_key[f"{PREFIX}a/mono.WAV"]["settings"] == {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 3}
    assert by_key[f"{PREFIX}a/call.mp3"]["channels"] is None
    assert [f["job_name"] for f in found["files"]] == ["ds-on-aws-abc-1", "ds-on-aws-abc-2", "ds-on-aws-abc-3"]
    assert found["files"][0]["output_key"] == "transcripts/run-1/ds-on-aws-abc-1.json"
    assert found["files"][0]["media_uri"] == f"s3://{RAW}/{found['files'][0]['key']}"


def test_one_file_limits_and_scope(s3):
    s3.put_object(Bucket=RAW, Key=f"{PREFIX}one.wav", Body=wav_header(1))
    s3.put_object(Bucket=RAW, Key=f"{PREFIX}one.wav.bak/x.wav", Body=wav_header(1))
    assert [f["key"] for f in listing(f"s3://{RAW}/{PREFIX}one.wav")["files"]] == [f"{PREFIX}one.wav"]
    for n in range(3):
        s3.put_object(Bucket=RAW, Key=f"{PREFIX}many/{n}.wav", Body=wav_header(1))
    assert listing(f"s3://{RAW}/{PREFIX}many/")["count"] == 3
    s3.put_object(Bucket=RAW, Key=f"{PREFIX}many/3.wav", Body=wav_header(1))
    runtime = load_runtime()
    with pytest.raises(runtime.VoiceInputError, match=r"4 audio files .* more than voice.max_files \(3\)"):
        listing(f"s3://{RAW}/{PREFIX}many/")
    with pytest.raises(runtime.VoiceInputError, match="is not under"):
        listing(f"s3://{RAW}/feedback/")
    with pytest.raises(runtime.VoiceInputError, match="unknown action"):
        handler({"action": "transcribe"})


def test_a_listing_too_large_for_the_state_is_refused(s3, monkeypatch):
    s3.put_object(Bucket=RAW, Key=f"{PREFIX}{'long-folder-name/' * 6}call.wav", Body=wav_header(1))
    runtime = load_runtime()
    assert listing(f"s3://{RAW}/{PREFIX}")["count"] == 1
    monkeypatch.setattr(runtime, "MAX_LISTING_BYTES", 300)
    with pytest.raises(runtime.VoiceInputError, match=r"takes \d+ bytes, more than the 300 a run's state can carry"):
        listing(f"s3://{RAW}/{PREFIX}")


def test_records_are_written_and_unreadable_transcripts_become_failures(s3):
    s3.put_object(Bucket=CURATED, Key="transcripts/run-1/j-1.json", Body=json.dumps(speaker_transcript("j-1")))
    s3.put_object(Bucket=CURATED, Key="transcripts/run-1/j-2.json", Body=b"{not json")
    results = [
        {"key": f"{PREFIX}a.wav", "status": "COMPLETED", "reason": "", "job_name": "j-1",
         "output_key": "transcripts/run-1/j-1.json"},
        {"key": f"{PREFIX}b.wav", "status": "COMPLETED", "reason": "", "job_name": "j-2",
         "output_key": "transcripts/run-1/j-2.json"},
        {"key": f"{PREFIX}c.wav", "status": "COMPLETED", "reason": "", "job_name": "j-3",
         "output_key": "transcripts/run-1/j-3.json"},
        {"key": f"{PREFIX}d.wav", "status": "TIMED_OUT", "reason": "still IN_PROGRESS", "job_name": "j-4",
         "output_key": "transcripts/run-1/j-4.json"},
    ]
    answer = handler({"action": "records", "run_id": "run-1", "results": results})
    assert answer["records_uri"] == f"s3://{RAW}/feedback/voice/run-1/feedback.ndjson"
    assert (answer["transcribed"], answer["failed"], answer["records"], answer["calls"]) == (1, 3, 3, 1)
    reasons = {f["key"]: (f["status"], f["reason"]) for f in answer["failures"]}
    assert reasons[f"{PREFIX}b.wav"][0] == "UNREADABLE_TRANSCRIPT" and "not JSON" in reasons[f"{PREFIX}b.wav"][1]
    assert reasons[f"{PREFIX}c.wav"][0] == "UNREADABLE_TRANSCRIPT" and "NoSuchKey" in reasons[f"{PREFIX}c.wav"][1]
    assert reasons[f"{PREFIX}d.wav"] == ("TIMED_OUT", "still IN_PROGRESS")
    written = s3.get_object(Bucket=RAW, Key="feedback/voice/run-1/feedback.ndjson")
    assert written["ServerSideEncryption"] == "aws:kms"
    lines = [json.loads(line) for line in written["Body"].read().decode("utf-8").splitlines()]
    assert [r["review_id"] for r in lines] == [f"{PREFIX}a.wav#call", f"{PREFIX}a.wav#turn-1", f"{PREFIX}a.wav#turn-2"]
    assert all(r["source"] == f"{PREFIX}a.wav" and r["call_id"] == "a.wav" for r in lines)


def test_no_completed_file_writes_nothing(s3):
    answer = handler({"action": "records", "run_id": "run-2", "results": [
        {"key": f"{PREFIX}x.wav", "status": "FAILED", "reason": "bad media", "job_name": "j", "output_key": "k"}]})
    assert answer["records"] == 0 and answer["records_uri"] == "" and answer["failures"][0]["reason"] == "bad media"
    assert "Contents" not in s3.list_objects_v2(Bucket=RAW, Prefix="feedback/")
