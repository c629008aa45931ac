"""The voice stack as synthesized: state machine, its role and the function's role, the function, trigger, outputs.

cdk-nag, cfn-lint, the wildcard-action check and the acknowledgment audit cover this stack with the others
(test_security.py); asl-validator and the path tests cover its definition (tests/statemachine).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from aws_cdk import App

from ds_on_aws.config import CONTEXT_KEY, ConfigError, PipelineConfig, load_config
from stacks.app_builder import VOICE_STACK_ID, build_app
from stacks.review_artifacts import resolve_definition, state_machines
from tests.cdk_support import stack_templates, synthesize_or_explain
from tests.infra.test_pipeline_stack import as_list, resource_strings, resources_of, rules_on
from tests.infra.test_scoring_stack import policy_statements

CONFIG = load_config()
V = CONFIG.voice


@pytest.fixture(scope="module")
def voice(templates) -> dict:
    return templates[VOICE_STACK_ID]


@pytest.fixture(scope="module")
def definition(templates, voice) -> dict:
    (logical_id,) = state_machines(voice)
    return resolve_definition(voice, logical_id, None, stack_name=VOICE_STACK_ID, other_templates=templates)


def test_state_machine_logs_traces_times_out_and_bounds_the_map(voice, definition):
    (machine,) = resources_of(voice, "AWS::StepFunctions::StateMachine").values()
    properties = machine["Properties"]
    assert properties["StateMachineName"] == f"{CONFIG.project_name}-voice"
    assert properties["TracingConfiguration"] == {"Enabled": True} and properties["LoggingConfiguration"]["Level"] == "ALL"
    assert definition["TimeoutSeconds"] == V.timeout_minutes * 60
    each = definition["States"]["Transcribe each file"]
    assert each["Type"] == "Map" and each["MaxConcurrency"] == V.max_concurrency
    inner = each["ItemProcessor"]["States"]
    assert inner["Wait for transcription"]["Seconds"] == V.poll_seconds
    assert inner["Start transcription job"]["Parameters"]["LanguageCode"] == V.language_code
    assert definition["States"]["Score voice feedback"]["Resource"].endswith(":states:startExecution.sync:2")


def test_state_machine_role_is_scoped_to_the_prefixes_the_key_and_the_jobs(voice):
    statements = policy_statements(voice, "VoicePolicy")
    for statement in statements.values():
        assert all("*" not in a for a in as_list(statement["Action"])), statement
        if statement["Resource"] == "*":
            assert all(a.startswith(("logs:", "xray:", "transcribe:StartTranscriptionJob"))
                       for a in as_list(statement["Action"])), statement
    start = statements["StartTranscriptionJobsIntoTranscripts"]
    assert start["Condition"]["StringLike"] == {"transcribe:OutputKey": "transcripts/*"}
    assert set(start["Condition"]["StringEquals"]) == {"transcribe:OutputBucketName", "transcribe:OutputEncryptionKMSKeyId"}
    assert f"transcription-job/{CONFIG.project_name}-*" in json.dumps(statements["WatchTranscriptionJobs"]["Resource"])
    assert f"/{V.audio_prefix}*" in resource_strings(statements["TranscribeReadsAudio"])[0]
    assert "/transcripts/*" in resource_strings(statements["TranscribeWritesTranscripts"])[0]
    assert f"execution:{CONFIG.project_name}-scoring:*" in json.dumps(statements["WatchScoring"]["Resource"])
    assert "iam:PassRole" not in json.dumps(statements)


def test_function_role_reads_audio_and_transcripts_and_writes_only_records(voice):
    statements = policy_statements(voice, "VoiceFunctionRole")
    assert statements["ListAudio"]["Condition"] == {"StringLike": {"s3:prefix": [f"{V.audio_prefix}*"]}}
    assert f"/{V.audio_prefix}*" in resource_strings(statements["ReadAudioHeaders"])[0]
    assert "/transcripts/*" in resource_strings(statements["ReadTranscripts"])[0]
    (written,) = resource_strings(statements["WriteFeedbackRecords"])
    assert f"/{V.records_prefix}*\"" in written and V.records_prefix.startswith(CONFIG.scoring.input_prefix)
    writes = [s for s in statements.values() if "s3:PutObject" in as_list(s["Action"])]
    assert len(writes) == 1


def test_function_is_configured_from_the_voice_section(voice):
    (function,) = resources_of(voice, "AWS::Lambda::Function").values()
    env = function["Properties"]["Environment"]["Variables"]
    assert env["AUDIO_PREFIX"] == V.audio_prefix and env["RECORDS_PREFIX"] == V.records_prefix
    assert env["MEDIA_SUFFIXES"].split(",") == list(V.media_suffixes)
    assert env["CUSTOMER_CHANNEL"] == V.customer_channel and env["MAX_FILES"] == str(V.max_files)


def test_outputs_give_the_console_link_upload_and_start_commands(voice):
    outputs = voice["Outputs"]
    assert "console.aws.amazon.com/states" in json.dumps(outputs["VoiceStateMachineConsoleUrl"])
    assert "--input '{}'" in json.dumps(outputs["StartVoiceCommand"]["Value"])
    assert V.audio_prefix in json.dumps(outputs["AudioUploadCommand"])


def test_upload_trigger_only_with_the_flag(voice, cdk_context, tmp_path):
    assert rules_on(voice, "aws.s3") == []
    context = copy.deepcopy(cdk_context)
    context[CONTEXT_KEY]["voice"]["trigger_on_upload"] = True
    app = App(context=context, outdir=str(tmp_path))
    build_app(app)
    templates = stack_templates(Path(synthesize_or_explain(app, tmp_path).directory))
    (rule,) = rules_on(templates[VOICE_STACK_ID], "aws.s3")
    pattern = rule["Properties"]["EventPattern"]["detail"]["object"]
    assert pattern["key"] == [{"prefix": V.audio_prefix}]
    assert {"key": [{"suffix": ".wav"}]} in pattern["$or"]
    assert "input_s3_uri" in json.dumps(rule["Properties"]["Targets"])


def test_the_records_file_is_not_scored_twice_by_the_scoring_upload_trigger():
    from pipeline_contracts import VOICE_RECORDS_FILE

    from stacks.pipeline_stack import TRIGGER_SUFFIXES

    assert not any(VOICE_RECORDS_FILE.endswith(suffix) for suffix in TRIGGER_SUFFIXES)
    assert VOICE_RECORDS_FILE.endswith(".ndjson")  # a suffix the cleaning job reads as JSON Lines


@pytest.mark.parametrize(
    ("voice", "message"),
    [
        ({"audio_prefix": "feedback/calls/"}, "overlaps scoring.input_prefix"),
        ({"audio_prefix": "imdb/calls/"}, "overlaps raw_prefix"),
        ({"audio_prefix": "calls"}, "ending with '/'"),
        ({"records_prefix": "voice/records/"}, "must lie under scoring.input_prefix"),
        ({"language_code": "english"}, "language code like 'en-US'"),
        ({"max_speakers": 1}, "2-30"),
        ({"customer_channel": "left"}, "'ch_0' or 'ch_1'"),
        ({"max_concurrency": 0}, "max_concurrency: must be 1-100"),
        ({"poll_seconds": 1}, "poll_seconds must be 5"),
        ({"max_wait_seconds": 90000}, "must not exceed timeout_minutes"),
        ({"media_suffixes": ["wav", "aiff"]}, "media_suffixes"),
        ({"media_suffixes": "wav"}, "list of strings"),
    ],
)
def test_bad_voice_settings_are_named(voice, message):
    with pytest.raises(ConfigError, match=message):
        PipelineConfig.from_context({"voice": voice})
