"""The voice state machine: recorded calls -> Amazon Transcribe -> feedback records -> the scoring state machine.

The definition is built by ``stacks.voice.definition.voice_definition`` (docs/voice.md gives the graph). This
construct owns what runs it: the Lambda function that lists a run's audio and writes its feedback records, the
failure path, the state machine, its role and the function's role (written explicitly, each acknowledgment next to
the statement it explains) and their log groups.

Why a Lambda function: listing the audio, reading a WAV/FLAC header (a ranged GET) and converting transcripts are
seconds of standard-library Python (``common/voice_records.py``, which ``ds-on-aws transcribe`` runs too); it ships
as a plain asset (no Docker bundling; boto3 comes with the runtime). Why Transcribe's caller permissions: a batch job
reads the media and writes the transcript with the credentials of whoever starts it (here the state machine role),
so that role reads the audio prefix, writes the transcripts prefix and uses the data key, nothing wider.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct
from pipeline_contracts import TRANSCRIPTS_PREFIX

from ds_on_aws.config import PROJECT_ROOT, PipelineConfig
from stacks.constructs import python_function
from stacks.constructs.notifications import FailureHandler, Notifications
from stacks.constructs.policies import (
    allow,
    local_finding,
    no_resource_type_finding,
    objects_finding,
    run_time_prefix_findings,
    use_data_key_statement,
)
from stacks.constructs.scoring import _log_and_trace_statements
from stacks.nag import acknowledge
from stacks.voice.definition import VoiceParts, voice_definition

RUNTIME_DIR = Path(__file__).resolve().parent / "voice_runtime"
SHARED_MODULES = ("voice_records.py", "pipeline_contracts.py")
STAGING_DIR = PROJECT_ROOT / ".cache" / "voice_runtime"
STEP_FUNCTIONS_RULE = "StepFunctionsGetEventsForStepFunctionsExecutionRule"


def stage_runtime(destination: Path = STAGING_DIR) -> Path:
    """``index.py`` and the shared modules in one folder (the function's asset); byte-identical for the same code."""
    return python_function.stage_runtime(RUNTIME_DIR, SHARED_MODULES, destination)


class VoiceStateMachine(Construct):
    """Function, voice state machine, their roles and log groups."""

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig, key: kms.IKey,
                 raw_bucket: s3.IBucket, curated_bucket: s3.IBucket, scoring: sfn.IStateMachine, name_prefix: str,
                 database_name: str, notifications: Notifications) -> None:
        super().__init__(scope, construct_id)
        self.config, self.key, self.raw, self.curated = config, key, raw_bucket, curated_bucket
        self.prefix = name_prefix.lower()
        self.function = self._function()
        self.failures = FailureHandler(self, "Failures", notifications=notifications)
        definition = voice_definition(self, VoiceParts(
            config=config, name_prefix=name_prefix, raw=raw_bucket, curated=curated_bucket, key=key,
            function=self.function, scoring=scoring, database_name=database_name, notifications=notifications,
            failures=self.failures))
        self._state_machine(definition)
        self._grant(scoring, notifications)

    # --- the function ---------------------------------------------------------------------------------------------

    def _function(self) -> lambda_.Function:
        v = self.config.voice
        self.function_logs = python_function.function_log_group(self, "FunctionLogs", self.key)
        self.function_role = self._function_role()
        function = python_function.python_function(
            self, "Function", runtime_dir=RUNTIME_DIR, shared_modules=SHARED_MODULES, role=self.function_role,
            log_group=self.function_logs, timeout=Duration.minutes(5),
            description="ds-on-aws: lists a voice run's audio files and turns its transcripts into feedback records",
            environment={
                "RAW_BUCKET": self.raw.bucket_name, "CURATED_BUCKET": self.curated.bucket_name,
                "KMS_KEY_ARN": self.key.key_arn, "AUDIO_PREFIX": v.audio_prefix, "RECORDS_PREFIX": v.records_prefix,
                "MEDIA_SUFFIXES": ",".join(v.media_suffixes), "MAX_SPEAKERS": str(v.max_speakers),
                "CUSTOMER_CHANNEL": v.customer_channel, "MAX_FILES": str(v.max_files),
            },
        )
        return function

    def _function_role(self) -> iam.Role:
        """List and read the audio prefix (headers), read the transcripts, write the records; the key; its logs."""
        v, raw, curated = self.config.voice, self.raw, self.curated
        role = iam.Role(self, "FunctionRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                        description="ds-on-aws voice function: list audio files, write feedback records")
        allow(role, [
            iam.PolicyStatement(sid="ListAudio", actions=["s3:ListBucket"], resources=[raw.bucket_arn],
                                conditions={"StringLike": {"s3:prefix": [f"{v.audio_prefix}*"]}}),
            iam.PolicyStatement(sid="ReadAudioHeaders", actions=["s3:GetObject"],
                                resources=[raw.arn_for_objects(f"{v.audio_prefix}*")]),
            iam.PolicyStatement(sid="ReadTranscripts", actions=["s3:GetObject"],
                                resources=[curated.arn_for_objects(f"{TRANSCRIPTS_PREFIX}*")]),
            iam.PolicyStatement(sid="WriteFeedbackRecords", actions=["s3:PutObject"],
                                resources=[raw.arn_for_objects(f"{v.records_prefix}*")]),
            use_data_key_statement(self.key),
            iam.PolicyStatement(sid="WriteOwnLogs", actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                                resources=[self.function_logs.log_group_arn]),
        ], {
            objects_finding(raw, f"{v.audio_prefix}*"): (
                f"Audio files are read (their first bytes, for the channel count) wherever users upload them under "
                f"the audio prefix {v.audio_prefix}, whatever their names"),
            objects_finding(raw, f"{v.records_prefix}*"): (
                f"Feedback records are written under {v.records_prefix}<run_id>/, whose run id is the Step Functions "
                "execution name, known only at run time"),
            **run_time_prefix_findings(curated, [f"{TRANSCRIPTS_PREFIX}*"]),
        })
        return role

    # --- the state machine ----------------------------------------------------------------------------------------

    def _state_machine(self, definition: sfn.IChainable) -> None:
        self.log_group = logs.LogGroup(self, "Logs", encryption_key=self.key, retention=logs.RetentionDays.THREE_MONTHS,
                                       removal_policy=RemovalPolicy.DESTROY)
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
                             description="Step Functions state machine that turns recorded calls into scored feedback")
        self.state_machine = sfn.StateMachine(
            self, "StateMachine", state_machine_name=f"{self.config.project_name}-voice",
            comment="Voice feedback: Amazon Transcribe per audio file -> feedback records -> the scoring state machine",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            state_machine_type=sfn.StateMachineType.STANDARD, role=self.role.without_policy_updates(),
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            tracing_enabled=True, timeout=Duration.minutes(self.config.voice.timeout_minutes),
        )

    def _grant(self, scoring: sfn.IStateMachine, notifications: Notifications) -> None:
        """The state machine role's whole policy; every acknowledgment below names the statement it explains."""
        stack, v = Stack.of(self), self.config.voice
        jobs = stack.format_arn(service="transcribe", resource="transcription-job", resource_name=f"{self.prefix}*")
        scoring_name = f"{self.config.project_name}-scoring"
        executions = stack.format_arn(service="states", resource="execution", resource_name=f"{scoring_name}:*",
                                      arn_format=ArnFormat.COLON_RESOURCE_NAME)
        statements = [
            iam.PolicyStatement(sid="InvokeVoiceFunction", actions=["lambda:InvokeFunction"],
                                resources=[self.function.function_arn]),
            iam.PolicyStatement(
                sid="StartTranscriptionJobsIntoTranscripts", actions=["transcribe:StartTranscriptionJob"],
                resources=["*"],  # StartTranscriptionJob has no resource type; its output is pinned by conditions
                conditions={"StringEquals": {"transcribe:OutputBucketName": self.curated.bucket_name,
                                             "transcribe:OutputEncryptionKMSKeyId": self.key.key_arn},
                            "StringLike": {"transcribe:OutputKey": f"{TRANSCRIPTS_PREFIX}*"}},
            ),
            iam.PolicyStatement(sid="WatchTranscriptionJobs", actions=["transcribe:GetTranscriptionJob"],
                                resources=[jobs]),
            # Transcribe reads the media and writes the transcript with the caller's permissions.
            iam.PolicyStatement(sid="TranscribeReadsAudio", actions=["s3:GetObject"],
                                resources=[self.raw.arn_for_objects(f"{v.audio_prefix}*")]),
            iam.PolicyStatement(sid="TranscribeWritesTranscripts", actions=["s3:PutObject"],
                                resources=[self.curated.arn_for_objects(f"{TRANSCRIPTS_PREFIX}*")]),
            iam.PolicyStatement(sid="UseDataKey", actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey",
                                                           "kms:DescribeKey"], resources=[self.key.key_arn]),
            iam.PolicyStatement(sid="RunScoring", actions=["states:StartExecution"],
                                resources=[scoring.state_machine_arn]),
            iam.PolicyStatement(sid="WatchScoring", actions=["states:DescribeExecution", "states:StopExecution"],
                                resources=[executions]),
            iam.PolicyStatement(
                sid="ScoringCompletionEvents", actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[stack.format_arn(service="events", resource="rule", resource_name=STEP_FUNCTIONS_RULE)]),
            iam.PolicyStatement(sid="Notify", actions=["sns:Publish"], resources=[notifications.topic.topic_arn]),
            *_log_and_trace_statements(),
        ]
        self.policy = iam.Policy(self, "Policy", statements=statements, roles=[self.role])
        self.state_machine.node.add_dependency(self.policy)
        for rule_id, reason in {
            local_finding(f"transcribe:<AWS::Region>:<AWS::AccountId>:transcription-job/{self.prefix}*"): (
                "Transcription job names are derived at run time (<project>-<hash of the execution ARN>-<file "
                f"number>), so only the project prefix {self.prefix} is known at deploy time"),
            local_finding(f"states:<AWS::Region>:<AWS::AccountId>:execution:{scoring_name}:*"): (
                "Scoring executions are named at run time (the voice run's id); the pattern is the scoring state "
                "machine's own executions"),
            objects_finding(self.raw, f"{v.audio_prefix}*"): (
                f"Transcribe reads each audio file with the caller's permissions, wherever users upload it under the "
                f"audio prefix {v.audio_prefix}"),
            **run_time_prefix_findings(self.curated, [f"{TRANSCRIPTS_PREFIX}*"]),
            **no_resource_type_finding(
                "transcribe:StartTranscriptionJob (limited by conditions to the curated bucket, the transcripts "
                "prefix and the data key), the CloudWatch Logs log-delivery APIs and the X-Ray trace APIs"),
        }.items():
            acknowledge(self.policy, rule_id, reason)
