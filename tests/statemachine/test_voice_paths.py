"""Every path of the synthesized voice state machine, executed in moto's interpreter (tests/statemachine/harness.py).

Each test runs one path of ``voice_scenarios.py`` against the definition ``cdk synth`` produces: the voice
function's own code answers its two steps on moto's S3 (real listing, real WAV headers, real transcripts -> records),
Transcribe and the scoring state machine answer in their API shapes. The last tests are the whole-definition
properties: every state is entered, every Task made to fail for good either fails the run through the failure path
(notified, naming the step) or, for the per-file Transcribe tasks, is recorded as that file's failure.
"""

from __future__ import annotations

import os
from unittest import mock

import pytest

from stacks.voice.transcribe import NON_FATAL_TASKS
from tests.statemachine import voice_scenarios as paths
from tests.statemachine.harness import Interpreter
from tests.statemachine.test_coverage import _injected_failure, all_states, injection_problems, task_names

VOICE_STACK_ID = "DsOnAws-Voice"


@pytest.fixture(scope="module")
def voice_definition(synthesized_state_machines) -> dict:
    voice = [m for m in synthesized_state_machines if m.stack_id == VOICE_STACK_ID]
    assert len(voice) == 1, f"expected one state machine in {VOICE_STACK_ID}, found {[m.logical_id for m in voice]}"
    return voice[0].definition


@pytest.fixture(scope="module")
def buckets(voice_definition) -> tuple[str, str, str]:
    """(raw bucket, curated bucket, audio prefix) as the synthesized definition names them."""
    audio = voice_definition["States"]["Load voice defaults"]["Parameters"]["defaults"]["input_s3_uri"]
    raw, _, prefix = audio[len("s3://"):].partition("/")
    start = all_states(voice_definition)["Start transcription job"]["Parameters"]
    return raw, start["OutputBucketName"], prefix


def run_path(interpreter, made: paths.VoicePath, config, name: str | None = None):
    paths.setup_world(made.world)
    with mock.patch.dict(os.environ, paths.function_environment(made.world, config)):
        return interpreter.run(made.scenario, execution_name=name or f"voice-{made.scenario.name}",
                               timeout_seconds=60)


@pytest.fixture(scope="module")
def made_paths(buckets) -> dict[str, paths.VoicePath]:
    return {name: make(buckets) for name, make in paths.PATHS.items()}


@pytest.fixture(scope="module")
def results(voice_definition, made_paths, pipeline_config) -> dict:
    with Interpreter(voice_definition) as interpreter:
        return {name: run_path(interpreter, made, pipeline_config) for name, made in made_paths.items()}


@pytest.fixture(scope="module")
def written(results) -> dict:
    """What "Write feedback records" returned on each path that reached it (the function's real answer)."""
    found = {}
    for name, result in results.items():
        for call, reply in zip(result.calls, result.replies, strict=True):
            if call.state == "Write feedback records" and hasattr(reply, "result"):
                found[name] = (call.parameters["Payload"], reply.result["Payload"])
    return found


def clean(result):
    assert not (result.unmocked or result.scenario_errors or result.invalid_requests), result.explain()
    return result


def notice(result, subject_part: str) -> str:
    found = [n["message"] for n in result.notifications if subject_part in (n["subject"] or "")]
    assert len(found) == 1, result.explain()
    return found[0]


def test_two_calls_are_transcribed_with_the_right_separation_and_scored(results, made_paths, buckets, written,
                                                                        pipeline_config):
    result = clean(results["two-calls"])
    result.assert_status("SUCCEEDED")
    raw, curated, prefix = buckets
    starts = {c.parameters["Media"]["MediaFileUri"]: c.parameters for c in result.calls_to("transcribe:startTranscriptionJob")}
    wav, mp3 = starts[f"s3://{raw}/{prefix}week-48/call-1.wav"], starts[f"s3://{raw}/{prefix}week-48/call-2.mp3"]
    assert wav["Settings"] == {"ChannelIdentification": True}  # the WAV header says two channels
    assert mp3["Settings"] == {"ShowSpeakerLabels": True, "MaxSpeakerLabels": pipeline_config.voice.max_speakers}
    assert (wav["MediaFormat"], mp3["MediaFormat"]) == ("wav", "mp3")
    for p in (wav, mp3):
        assert p["OutputBucketName"] == curated and "datakey" in p["OutputEncryptionKMSKeyId"].lower()
        assert p["OutputKey"] == f"transcripts/voice-two-calls/{p['TranscriptionJobName']}.json"
        assert p["LanguageCode"] == "en-US" and p["TranscriptionJobName"].startswith("ds-on-aws-")
    assert len({p["TranscriptionJobName"] for p in (wav, mp3)}) == 2
    assert [s.seconds for s in result.sleeps if s.kind == "wait"] == [pipeline_config.voice.poll_seconds] * 4
    _, answer = written["two-calls"]
    assert (answer["transcribed"], answer["failed"], answer["calls"]) == (2, 0, 2)
    records = made_paths["two-calls"].world.records
    assert answer["records_uri"] == f"s3://{raw}/{pipeline_config.voice.records_prefix}voice-two-calls/feedback.ndjson"
    by_id = {r["review_id"]: r for r in records}
    wav_key, mp3_key = f"{prefix}week-48/call-1.wav", f"{prefix}week-48/call-2.mp3"
    assert by_id[f"{wav_key}#call"]["text"] == "Terrible film, awful." and by_id[f"{wav_key}#call"]["channel"] == "ch_1"
    assert [r["turn"] for r in records if r["source"] == wav_key] == [None, 2]  # the agent's turn 1 is not feedback
    assert by_id[f"{mp3_key}#turn-2"] == {
        "review_id": f"{mp3_key}#turn-2", "text": "The movie was wonderful.", "source": mp3_key,
        "call_id": "week-48/call-2.mp3", "turn": 2, "speaker": "spk_1", "channel": None,
        "start_time": 3.0, "end_time": 4.8}
    scoring = result.calls_to("states:startExecution")
    assert len(scoring) == 1 and scoring[0].pattern == "sync:2"
    assert scoring[0].parameters["Input"] == {"input_s3_uri": answer["records_uri"], "model_name": ""}
    assert scoring[0].parameters["Name"] == "voice-two-calls"
    assert "scoringstatemachine" in scoring[0].parameters["StateMachineArn"].lower()  # the scoring stack's, resolved
    message = notice(result, "voice feedback scored")
    assert "transcribed 2 of 2 audio file(s)" in message and "SUCCEEDED" in message and "run_id = voice-two-calls" in message


def test_failed_timed_out_and_refused_files_are_reported_and_never_stop_the_others(results, written, pipeline_config):
    result = clean(results["some-files-fail"])
    result.assert_status("SUCCEEDED")
    payload, answer = written["some-files-fail"]
    by_key = {r["key"].rsplit("/", 1)[-1]: r for r in payload["results"]}
    assert by_key["a-ok.wav"]["status"] == "COMPLETED"
    assert by_key["b-failed.flac"]["status"] == "FAILED" and paths.JOB_FAILURE in by_key["b-failed.flac"]["reason"]
    assert by_key["c-slow.ogg"]["status"] == "TIMED_OUT" and f"after {pipeline_config.voice.max_wait_seconds} s" in (
        by_key["c-slow.ogg"]["reason"])
    assert by_key["d-refused.m4a"]["status"] == "ERROR"
    assert "Start transcription job failed" in by_key["d-refused.m4a"]["reason"] and "too large" in (
        by_key["d-refused.m4a"]["reason"])
    polls = [c for c in result.calls_to("transcribe:getTranscriptionJob")
             if c.parameters["TranscriptionJobName"].endswith("-3")]
    assert len(polls) == pipeline_config.voice.max_wait_seconds // pipeline_config.voice.poll_seconds
    assert by_key["e-failed.amr"]["status"] == "FAILED" and "without a reason" in by_key["e-failed.amr"]["reason"]
    assert (answer["transcribed"], answer["failed"]) == (1, 4)
    message = notice(result, "voice feedback scored")
    assert "transcribed 1 of 5" in message and "(4 failed)" in message and paths.JOB_FAILURE in message


@pytest.mark.parametrize(("name", "error", "in_message"), [
    ("nothing-transcribed", "NothingTranscribed", paths.JOB_FAILURE),
    ("no-audio", "NoAudioFiles", "readme.txt"),
    ("scoring-failed", "ScoreVoiceFeedbackFailed", "min_rows"),
    ("input-outside-prefix", "InvalidInput", "s3://elsewhere/calls/"),
    ("listing-malformed", "TranscribeEachFileFailed", "Transcribe each file failed"),
])
def test_runs_that_cannot_score_fail_notified(results, name, error, in_message):
    result = clean(results[name])
    result.assert_status("FAILED")
    assert result.error == error and in_message in result.cause
    assert in_message in notice(result, "FAILED")
    if name != "scoring-failed":
        assert not result.calls_to("states:startExecution")


def test_one_uploaded_file_is_transcribed_alone(results, buckets):
    result = clean(results["one-file"])
    result.assert_status("SUCCEEDED")
    (start,) = result.calls_to("transcribe:startTranscriptionJob")
    assert start.parameters["Media"]["MediaFileUri"].endswith("/one.wav")


def test_a_retried_start_that_finds_its_job_watches_it(results, written):
    result = clean(results["retried-start-conflicts"])
    result.assert_status("SUCCEEDED")
    assert [c.attempt for c in result.calls_to("transcribe:startTranscriptionJob")] == [0, 1]
    assert written["retried-start-conflicts"][1]["transcribed"] == 1


# ---- whole-definition properties -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def injected(voice_definition, results, buckets, pipeline_config) -> dict:
    """For every Task: (the path it was reached on, the run where that Task fails for good)."""
    found = {}
    with Interpreter(voice_definition) as interpreter:
        for task in task_names(voice_definition):
            reached = [n for n, r in results.items() if task in r.states_entered]
            base = next((n for n in reached if results[n].status == "SUCCEEDED"), reached[0] if reached else None)
            if base is None:
                found[task] = (None, None)
                continue
            made = paths.PATHS[base](buckets)
            made.scenario.name = f"{base}+fail@{task}"
            made.scenario.responses[task] = _injected_failure
            found[task] = (base, run_path(interpreter, made, pipeline_config, name=f"inject-{len(found)}"))
    return found


def test_every_voice_state_is_entered_by_some_path(voice_definition, results, injected):
    runs = list(results.values()) + [r for _, r in injected.values() if r is not None]
    entered = set().union(*(set(r.states_entered) for r in runs))
    assert set(all_states(voice_definition)) - entered == set()


def test_every_voice_task_failure_is_caught(voice_definition, injected):
    problems = []
    for task, (_, result) in injected.items():
        if task in NON_FATAL_TASKS:  # recorded as each file's failure: no file transcribed, so NothingTranscribed
            if result is None or result.error != "NothingTranscribed" or task not in (result.cause or ""):
                problems.append(f"{task}: not recorded as the files' failure\n{result.explain() if result else ''}")
            continue
        problems.extend(injection_problems(task, result, voice_definition, None))
    assert not problems, "\n\n".join(problems)
