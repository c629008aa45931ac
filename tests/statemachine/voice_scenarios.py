"""The paths of the voice state machine, each described in ONE place: the audio in S3 and every service's answer.

The voice function's two steps are answered by the function's own code (``stacks/constructs/voice_runtime/index.py``)
running against moto's S3, which the harness's ``mock_aws`` already holds: "List audio files" lists real objects
and reads real WAV headers, "Write feedback records" reads the transcripts and writes the records file. Amazon
Transcribe is answered in its API shapes (StartTranscriptionJob / GetTranscriptionJob, botocore's model) and, like
the service, writes the transcript JSON (the documented shapes: speaker labels, channel labels, plain) to the
curated bucket at the job's ``OutputKey`` when the job completes. The scoring state machine is answered as
``states:startExecution.sync:2`` answers (DescribeExecution with the output parsed).
"""

from __future__ import annotations

import importlib.util
import json
import struct
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.statemachine.harness import ACCOUNT, REGION, Fail, Ok, Scenario, ServiceCall
from tests.statemachine.service_replies import EPOCH_MS, _lambda_answer, published, service_error

SCORING_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:ds-on-aws-scoring"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
JOB_FAILURE = "The media format that you specified doesn't match the detected media format."


def wav_header(channels: int, rate: int = 8000) -> bytes:
    """The first bytes of a PCM WAV file (RIFF, fmt chunk, data chunk header) and a little silence."""
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * 2 * channels, 2 * channels, 16)
    data = b"\0" * 64
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", len(data)) + data)


def _item(start: float, end: float, word: str, **labels) -> dict:
    return {"start_time": f"{start:.2f}", "end_time": f"{end:.2f}", "type": "pronunciation",
            "alternatives": [{"confidence": "0.98", "content": word}], **labels}


def _punct(mark: str) -> dict:
    return {"type": "punctuation", "alternatives": [{"confidence": "0.0", "content": mark}]}


def speaker_transcript(job: str) -> dict:
    """Speaker separation (ShowSpeakerLabels): results.items plus speaker_labels.segments, as Transcribe writes."""
    words = [(0.5, 0.9, "Hello", "spk_0"), (0.9, 1.4, "thanks", "spk_0"), (1.4, 1.8, "for", "spk_0"),
             (1.8, 2.3, "calling", "spk_0"), (3.0, 3.3, "The", "spk_1"), (3.3, 3.8, "movie", "spk_1"),
             (3.8, 4.0, "was", "spk_1"), (4.0, 4.8, "wonderful", "spk_1")]
    items = []
    for start, end, word, _speaker in words:
        items.append(_item(start, end, word))
        if word in ("calling", "wonderful"):
            items.append(_punct("."))
    segments = [{"start_time": "0.50", "end_time": "2.30", "speaker_label": "spk_0",
                 "items": [{"start_time": f"{s:.2f}", "end_time": f"{e:.2f}", "speaker_label": "spk_0"}
                           for s, e, _, sp in words if sp == "spk_0"]},
                {"start_time": "3.00", "end_time": "4.80", "speaker_label": "spk_1",
                 "items": [{"start_time": f"{s:.2f}", "end_time": f"{e:.2f}", "speaker_label": "spk_1"}
                           for s, e, _, sp in words if sp == "spk_1"]}]
    return {"jobName": job, "accountId": ACCOUNT, "status": "COMPLETED", "results": {
        "transcripts": [{"transcript": "Hello thanks for calling. The movie was wonderful."}],
        "speaker_labels": {"speakers": 2, "segments": segments}, "items": items}}


def channel_transcript(job: str) -> dict:
    """Channel identification: each channel's items under channel_labels (the agent on ch_0, the customer ch_1)."""
    agent = [_item(0.2, 0.6, "How"), _item(0.6, 0.8, "can"), _item(0.8, 0.9, "I"), _item(0.9, 1.3, "help"),
             _punct("?")]
    customer = [_item(1.8, 2.2, "Terrible"), _item(2.2, 2.6, "film"), _punct(","), _item(2.7, 3.2, "awful"),
                _punct(".")]
    return {"jobName": job, "accountId": ACCOUNT, "status": "COMPLETED", "results": {
        "transcripts": [{"transcript": "How can I help? Terrible film, awful."}],
        "channel_labels": {"number_of_channels": 2, "channels": [
            {"channel_label": "ch_0", "items": agent}, {"channel_label": "ch_1", "items": customer}]},
        "items": agent + customer}}


def plain_transcript(job: str) -> dict:
    return {"jobName": job, "accountId": ACCOUNT, "status": "COMPLETED", "results": {
        "transcripts": [{"transcript": "Great service."}],
        "items": [_item(0.1, 0.5, "Great"), _item(0.5, 1.0, "service"), _punct(".")]}}


@dataclass
class World:
    """The buckets and objects of one path, and what each file's transcription job does."""

    raw: str
    curated: str
    audio_prefix: str
    objects: dict[str, bytes] = field(default_factory=dict)
    #: audio key -> successive job statuses (the last repeats; "FAILED-" is FAILED without a FailureReason) and the
    #: transcript it writes when COMPLETED
    jobs: dict[str, tuple[Sequence[str], Callable[[str], dict] | None]] = field(default_factory=dict)
    #: the records file "Write feedback records" wrote, read back from S3 (parsed lines)
    records: list[dict] = field(default_factory=list)


RUNTIME = Path(__file__).resolve().parents[2] / "stacks" / "constructs" / "voice_runtime" / "index.py"


def load_runtime():
    """The voice function's module (``index.py``), imported under its own name (the baseline has an index.py too)."""
    if "voice_runtime_index" not in sys.modules:
        spec = importlib.util.spec_from_file_location("voice_runtime_index", RUNTIME)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return sys.modules["voice_runtime_index"]


def function_environment(world: World, config) -> dict[str, str]:
    """The function's environment as the construct sets it (stacks/constructs/voice.py), for ``world``'s buckets."""
    v = config.voice
    return {"RAW_BUCKET": world.raw, "CURATED_BUCKET": world.curated, "AUDIO_PREFIX": v.audio_prefix,
            "RECORDS_PREFIX": v.records_prefix, "MEDIA_SUFFIXES": ",".join(v.media_suffixes),
            "MAX_SPEAKERS": str(v.max_speakers), "CUSTOMER_CHANNEL": v.customer_channel,
            "MAX_FILES": str(v.max_files), "KMS_KEY_ARN": KEY_ARN, "AWS_DEFAULT_REGION": REGION}


def _s3():
    import boto3

    return boto3.client("s3", region_name=REGION)


def setup_world(world: World) -> None:
    """Create the buckets and upload the path's objects (inside the harness's mock_aws)."""
    s3 = _s3()
    for bucket in (world.raw, world.curated):
        s3.create_bucket(Bucket=bucket)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):  # what an earlier path left
            for obj in page.get("Contents", []):
                s3.delete_object(Bucket=bucket, Key=obj["Key"])
    for key, body in world.objects.items():
        s3.put_object(Bucket=world.raw, Key=key, Body=body)


def function(world: World) -> Callable[[ServiceCall, Sequence[ServiceCall]], Ok | Fail]:
    """The voice function's own handler, on moto's S3, answering as lambda:invoke does (a raised error too)."""

    def reply(call: ServiceCall, calls: Sequence[ServiceCall]) -> Ok | Fail:
        index = load_runtime()
        index.s3 = _s3()
        try:
            answer = index.handler(call.parameters["Payload"])
            if answer.get("records_uri"):
                key = answer["records_uri"].split("/", 3)[3]
                body = index.s3.get_object(Bucket=world.raw, Key=key)["Body"].read().decode("utf-8")
                world.records = [json.loads(line) for line in body.splitlines()]
            return _lambda_answer(answer)
        except index.VoiceInputError as exc:
            return Fail("VoiceInputError", json.dumps({"errorMessage": str(exc), "errorType": "VoiceInputError"}))

    return reply


def started(call: ServiceCall, calls: Sequence[ServiceCall]) -> Ok:
    p = call.parameters
    return Ok({"TranscriptionJob": {
        "TranscriptionJobName": p["TranscriptionJobName"], "TranscriptionJobStatus": "IN_PROGRESS",
        "LanguageCode": p["LanguageCode"], "MediaFormat": p["MediaFormat"], "Media": p["Media"],
        "Settings": p.get("Settings", {}), "CreationTime": EPOCH_MS, "StartTime": EPOCH_MS}})


def described(world: World) -> Callable[[ServiceCall, Sequence[ServiceCall]], Ok]:
    """GetTranscriptionJob: the file's next status; on COMPLETED the transcript is written where the job was told."""

    def reply(call: ServiceCall, calls: Sequence[ServiceCall]) -> Ok:
        name = call.parameters["TranscriptionJobName"]
        start = next(c for c in calls if c.api == "transcribe:startTranscriptionJob"
                     and c.parameters["TranscriptionJobName"] == name)
        key = start.parameters["Media"]["MediaFileUri"].split("/", 3)[3]
        statuses, transcript = world.jobs[key]
        polls = sum(1 for c in calls if c.api == "transcribe:getTranscriptionJob"
                    and c.parameters["TranscriptionJobName"] == name)
        status = statuses[min(polls, len(statuses) - 1)]
        job = {"TranscriptionJobName": name, "TranscriptionJobStatus": status.rstrip("-"), "LanguageCode": "en-US",
               "Media": start.parameters["Media"], "CreationTime": EPOCH_MS}
        if status == "COMPLETED":
            uri = f"https://s3.{REGION}.amazonaws.com/{world.curated}/{start.parameters['OutputKey']}"
            _s3().put_object(Bucket=start.parameters["OutputBucketName"], Key=start.parameters["OutputKey"],
                             Body=json.dumps(transcript(name)).encode("utf-8"))
            job.update(Transcript={"TranscriptFileUri": uri}, CompletionTime=EPOCH_MS + 60_000)
        elif status == "FAILED":
            job["FailureReason"] = JOB_FAILURE
        return Ok({"TranscriptionJob": job})

    return reply


def scoring_run(status: str = "SUCCEEDED") -> Callable[[ServiceCall, Sequence[ServiceCall]], Ok | Fail]:
    def reply(call: ServiceCall, calls: Sequence[ServiceCall]) -> Ok | Fail:
        p = call.parameters
        arn = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:ds-on-aws-scoring:{p['Name']}"
        described_execution = {"ExecutionArn": arn, "StateMachineArn": p["StateMachineArn"], "Name": p["Name"],
                               "Status": status, "StartDate": EPOCH_MS, "StopDate": EPOCH_MS + 600_000,
                               "Input": json.dumps(p["Input"]), "InputDetails": {"Included": True}}
        if status != "SUCCEEDED":
            return Fail("States.TaskFailed", json.dumps({**described_execution, "Error": "CleanFeedbackFailed",
                                                         "Cause": "Clean feedback failed: min_rows 0 < 1"}))
        return Ok({**described_execution, "Output": {"run": {"run_id": p["Name"]}},
                   "OutputDetails": {"Included": True}})

    return reply


@dataclass
class VoicePath:
    scenario: Scenario
    world: World


def voice_path(name: str, world: World, *, input: dict | None = None,
               overrides: Mapping[str, object] | None = None) -> VoicePath:
    responses: dict = {
        "List audio files": function(world), "Write feedback records": function(world),
        "transcribe:startTranscriptionJob": started, "transcribe:getTranscriptionJob": described(world),
        "states:startExecution": scoring_run(), "sns:publish": published(),
    }
    responses.update(overrides or {})
    return VoicePath(Scenario(name, input=input or {}, responses=responses), world)


def _world(buckets: tuple[str, str, str], objects: dict[str, bytes], jobs: dict) -> World:
    raw, curated, prefix = buckets
    return World(raw, curated, prefix, {f"{prefix}{k}": v for k, v in objects.items()},
                 {f"{prefix}{k}": v for k, v in jobs.items()})


def two_calls(b) -> VoicePath:
    """A two-channel WAV call and an MP3 with two speakers, each polled once IN_PROGRESS, then COMPLETED."""
    world = _world(b, {"week-48/call-1.wav": wav_header(2), "week-48/call-2.mp3": b"ID3\x03" + b"\0" * 64,
                       "week-48/notes.txt": b"not audio"},
                   {"week-48/call-1.wav": (["IN_PROGRESS", "COMPLETED"], channel_transcript),
                    "week-48/call-2.mp3": (["IN_PROGRESS", "COMPLETED"], speaker_transcript)})
    return voice_path("two-calls", world)


def some_files_fail(b) -> VoicePath:
    """One file transcribed, two jobs FAILED (one without a reason), one never ends (timed out), one start refused:
    the run goes on."""
    world = _world(b, {"a-ok.wav": wav_header(1), "b-failed.flac": b"fLaC" + b"\0" * 64, "c-slow.ogg": b"OggS",
                       "d-refused.m4a": b"\0" * 16, "e-failed.amr": b"#!AMR\n"},
                   {"a-ok.wav": (["COMPLETED"], plain_transcript), "b-failed.flac": (["IN_PROGRESS", "FAILED"], None),
                    "c-slow.ogg": (["IN_PROGRESS"], None), "d-refused.m4a": (["COMPLETED"], plain_transcript),
                    "e-failed.amr": (["FAILED-"], None)})

    def start(call: ServiceCall, calls: Sequence[ServiceCall]) -> Ok | Fail:
        if call.parameters["Media"]["MediaFileUri"].endswith("d-refused.m4a"):
            return service_error("BadRequestException", "The media file is too large")(call, calls)
        return started(call, calls)

    return voice_path("some-files-fail", world, overrides={"transcribe:startTranscriptionJob": start})


def nothing_transcribed(b) -> VoicePath:
    world = _world(b, {"x.wav": wav_header(1)}, {"x.wav": (["FAILED"], None)})
    return voice_path("nothing-transcribed", world)


def no_audio(b) -> VoicePath:
    return voice_path("no-audio", _world(b, {"readme.txt": b"calls go here"}, {}))


def one_file(b) -> VoicePath:
    """input_s3_uri names one uploaded file (as the upload trigger does): only that file is transcribed."""
    world = _world(b, {"one.wav": wav_header(1), "other.wav": wav_header(1)}, {"one.wav": (["COMPLETED"], plain_transcript)})
    return voice_path("one-file", world, input={"input_s3_uri": f"s3://{b[0]}/{b[2]}one.wav"})


def retried_start_conflicts(b) -> VoicePath:
    """The start is throttled, then its retry finds the job already created (ConflictException): it is watched."""
    world = _world(b, {"call.wav": wav_header(1)}, {"call.wav": (["COMPLETED"], plain_transcript)})
    throttle = service_error("LimitExceededException", "Rate exceeded")

    def start(call: ServiceCall, calls: Sequence[ServiceCall]) -> Fail:
        code = "LimitExceededException" if call.attempt == 0 else "ConflictException"
        reply = throttle if call.attempt == 0 else service_error(code, "The requested job name already exists.")
        result = reply(call, calls)
        return Fail(f"Transcribe.{code}", result.cause)

    return voice_path("retried-start-conflicts", world, overrides={"transcribe:startTranscriptionJob": start})


def scoring_failed(b) -> VoicePath:
    world = _world(b, {"call.wav": wav_header(1)}, {"call.wav": (["COMPLETED"], plain_transcript)})
    return voice_path("scoring-failed", world, overrides={"states:startExecution": scoring_run("FAILED")})


def input_outside_prefix(b) -> VoicePath:
    return voice_path("input-outside-prefix", _world(b, {}, {}), input={"input_s3_uri": "s3://elsewhere/calls/"})


PATHS: dict[str, Callable[[tuple[str, str, str]], VoicePath]] = {
    "two-calls": two_calls,
    "some-files-fail": some_files_fail,
    "nothing-transcribed": nothing_transcribed,
    "no-audio": no_audio,
    "one-file": one_file,
    "retried-start-conflicts": retried_start_conflicts,
    "scoring-failed": scoring_failed,
    "input-outside-prefix": input_outside_prefix,
}


def listing_malformed(b) -> VoicePath:
    """The Map itself fails (its items are not a list): the run fails through the failure path, notified."""
    world = _world(b, {}, {})
    bad = _lambda_answer({"files": "not a list", "count": 1, "skipped": []})
    return voice_path("listing-malformed", world, overrides={"List audio files": bad})


PATHS["listing-malformed"] = listing_malformed
