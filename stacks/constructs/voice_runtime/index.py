"""The voice Lambda function: list a run's audio files, then turn its transcripts into feedback records.

Two actions, chosen by the event's ``action`` (standard library + boto3, which the Lambda runtime provides):

* ``list`` (``{"action": "list", "input_s3_uri", "run_id", "job_prefix"}``): the audio objects under the URI (a
  prefix, or one object), those with a media suffix of ``MEDIA_SUFFIXES``; for each, what its transcription job
  needs: the job name (``<job_prefix>-<n>``, unique per run and file), the transcript's key
  (``transcripts/<run_id>/<job name>.json``), the media format and the job's ``Settings`` (channel identification
  when a WAV or FLAC header, read with a ranged GET, says two channels; else speaker labels). Returns
  ``{"files": [...], "count", "skipped": [keys without a media suffix]}``; more than ``MAX_FILES`` files, or a
  listing larger than the execution's state can carry, is an error naming the count.
* ``records`` (``{"action": "records", "run_id", "results": [<one per file>]}``): reads the transcript of every
  file whose job COMPLETED, converts it with ``voice_records`` and writes all records as JSON Lines to
  ``<RECORDS_PREFIX><run_id>/feedback.ndjson`` in the raw bucket (under the scoring prefix). Returns the file's URI,
  the counts and the failures (``key``, ``status``, ``reason``) for the notice. A transcript that cannot be read or
  converted becomes a failure of its file, never of the run.

Configuration from the environment: ``RAW_BUCKET``, ``CURATED_BUCKET``, ``KMS_KEY_ARN``, ``AUDIO_PREFIX``,
``RECORDS_PREFIX``, ``MEDIA_SUFFIXES`` (comma-separated), ``MAX_SPEAKERS``, ``CUSTOMER_CHANNEL``, ``MAX_FILES``.
"""

from __future__ import annotations

import json
import os

import boto3
import voice_records as vr
from botocore.exceptions import ClientError
from pipeline_contracts import transcript_key, voice_records_key

s3 = boto3.client("s3")
MAX_LISTING_BYTES = 200_000  # the listing travels in the execution's state (256 KiB at most, the rest included)


class VoiceInputError(ValueError):
    """The run's input cannot be transcribed as asked (the message says why)."""


def _env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise KeyError(f"environment variable {name} is not set")
    return value


def _split_uri(uri: str) -> tuple[str, str]:
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise VoiceInputError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key


def _objects(bucket: str, key: str) -> list[str]:
    """The object ``key`` when it exists and is not a folder, else every object under it."""
    if key and not key.endswith("/"):
        try:
            s3.head_object(Bucket=bucket, Key=key)
            return [key]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
        keys.extend(obj["Key"] for obj in page.get("Contents", []) if not obj["Key"].endswith("/"))
    return sorted(keys)


def _channels(bucket: str, key: str, fmt: str) -> int | None:
    if fmt not in ("wav", "flac"):
        return None
    try:
        header = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{vr.HEADER_BYTES - 1}")["Body"].read()
    except ClientError:
        return None  # an unreadable header: speaker labels; the job itself reports an unreadable file
    return vr.channel_count(header, fmt)


def list_audio(event: dict) -> dict:
    raw, audio_prefix = _env("RAW_BUCKET"), _env("AUDIO_PREFIX")
    bucket, key = _split_uri(event["input_s3_uri"])
    if bucket != raw or not key.startswith(audio_prefix):
        raise VoiceInputError(f"{event['input_s3_uri']} is not under s3://{raw}/{audio_prefix}")
    suffixes = tuple(s.strip().lower() for s in _env("MEDIA_SUFFIXES").split(",") if s.strip())
    keys = _objects(bucket, key)
    audio = [k for k in keys if vr.media_format(k, suffixes)]
    limit = int(_env("MAX_FILES", "500"))
    if len(audio) > limit:
        raise VoiceInputError(f"{len(audio)} audio files under {event['input_s3_uri']}, more than voice.max_files "
                              f"({limit}): start one run per sub-folder (input_s3_uri), or raise the limit")
    files = []
    for number, name in enumerate(audio, start=1):
        fmt = vr.media_format(name, suffixes)
        job = f"{event['job_prefix']}-{number}"
        channels = _channels(bucket, name, fmt)
        files.append({"key": name, "media_uri": f"s3://{bucket}/{name}", "media_format": fmt, "channels": channels,
                      "job_name": job, "output_key": transcript_key(event["run_id"], job),
                      "settings": vr.transcription_settings(channels, int(_env("MAX_SPEAKERS", "2")))})
    chosen = set(audio)
    listing = {"files": files, "count": len(files), "skipped": [k for k in keys if k not in chosen][:20]}
    size = len(json.dumps(listing))
    if size > MAX_LISTING_BYTES:
        raise VoiceInputError(f"the listing of {len(files)} audio files under {event['input_s3_uri']} takes {size} "
                              f"bytes, more than the {MAX_LISTING_BYTES} a run's state can carry (long keys): start "
                              "one run per sub-folder (input_s3_uri)")
    return listing


def _records_of(curated: str, result: dict) -> list[dict]:
    body = s3.get_object(Bucket=curated, Key=result["output_key"])["Body"].read()
    try:
        transcript = json.loads(body)
    except ValueError as exc:
        raise vr.TranscriptError(f"the transcript is not JSON ({exc})") from exc
    return vr.records_from_transcript(transcript, result["key"], audio_prefix=_env("AUDIO_PREFIX"),
                                      customer_channel=_env("CUSTOMER_CHANNEL", "ch_1"))


def write_records(event: dict) -> dict:
    raw, curated = _env("RAW_BUCKET"), _env("CURATED_BUCKET")
    records, failures, transcribed = [], [], 0
    for result in event.get("results") or []:
        if result.get("status") != "COMPLETED":
            failures.append({k: result.get(k) for k in ("key", "status", "reason")})
            continue
        try:
            found = _records_of(curated, result)
        except (ClientError, vr.TranscriptError) as exc:
            failures.append({"key": result.get("key"), "status": "UNREADABLE_TRANSCRIPT", "reason": str(exc)[:500]})
            continue
        transcribed += 1
        records.extend(found)
    key = voice_records_key(_env("RECORDS_PREFIX"), event["run_id"])
    if records:
        s3.put_object(Bucket=raw, Key=key, Body=vr.to_json_lines(records).encode("utf-8"),
                      ContentType="application/x-ndjson", ServerSideEncryption="aws:kms",
                      SSEKMSKeyId=_env("KMS_KEY_ARN"))
    return {"records_uri": f"s3://{raw}/{key}" if records else "", "records": len(records),
            "calls": sum(1 for r in records if r["turn"] is None), "transcribed": transcribed,
            "failed": len(failures), "failures": failures[:50]}


def handler(event: dict, context=None) -> dict:
    action = event.get("action")
    if action == "list":
        return list_audio(event)
    if action == "records":
        return write_records(event)
    raise VoiceInputError(f"unknown action {action!r}: 'list' or 'records'")
