"""The voice stack: recorded calls become feedback the scoring state machine scores.

Stateless like the scoring stack: the voice state machine, its function, the optional upload trigger and the
outputs. It reuses the data stack's buckets and key, the pipeline stack's notification topic and the scoring stack's
state machine (which it starts on each run's records).
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Fn, Stack
from aws_cdk import aws_events as events
from constructs import Construct

from ds_on_aws.config import PipelineConfig
from stacks.constructs.upload_trigger import console_url, start_on_upload
from stacks.constructs.voice import VoiceStateMachine
from stacks.data_stack import DataStack
from stacks.pipeline_stack import PipelineStack
from stacks.scoring_stack import ScoringStack


class VoiceStack(Stack):
    """Voice state machine, its function, upload trigger (off by default), outputs."""

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig, data: DataStack,
                 pipeline: PipelineStack, scoring: ScoringStack, **kwargs) -> None:
        super().__init__(scope, construct_id,
                         description=f"{config.project_name}: recorded calls transcribed and scored as feedback", **kwargs)
        self.config = config
        self.voice = VoiceStateMachine(
            self, "Voice", config=config, key=data.key, raw_bucket=data.raw_bucket, curated_bucket=data.curated_bucket,
            scoring=scoring.state_machine, name_prefix=pipeline.pipeline.prefix,
            database_name=data.glue_database_name, notifications=pipeline.notifications,
        )
        self.state_machine = self.voice.state_machine
        self.uncatchable_ends = pipeline.notifications.notify_uncatchable_ends(
            self.state_machine, "VoiceUncatchableEnds", scope=self)
        self.trigger = self._trigger(data) if config.voice.trigger_on_upload else None
        self._outputs(data)

    def _trigger(self, data: DataStack) -> events.Rule:
        """Transcribe and score an audio file when it lands under the audio prefix (EventBridge, raw bucket)."""
        return start_on_upload(
            self, "TranscribeOnUpload", data=data, prefix=self.config.voice.audio_prefix,
            suffixes=[f".{s}" for s in self.config.voice.media_suffixes], state_machine=self.state_machine,
            input_field="input_s3_uri", description="Start a voice run when an audio file is uploaded under the audio prefix",
        )

    def _outputs(self, data: DataStack) -> None:
        sm = self.state_machine
        audio_uri = f"s3://{data.raw_bucket.bucket_name}/{self.config.voice.audio_prefix}"
        console = console_url(sm)
        for name, value, description in (
            ("VoiceStateMachineArn", sm.state_machine_arn, "The voice state machine"),
            ("VoiceStateMachineConsoleUrl", console,
             "Open it, choose 'Start execution', input {} (or input_s3_uri of one file or sub-folder, model_name)"),
            ("AudioUploadCommand", f"aws s3 cp calls/ {audio_uri} --recursive",
             "Upload recorded calls (wav, mp3, flac, ogg, m4a, mp4, webm, amr)"),
            ("StartVoiceCommand",
             Fn.join("", ["aws stepfunctions start-execution --state-machine-arn ", sm.state_machine_arn,
                          " --input '{}'"]),
             "Transcribe every call under the audio prefix and score it with the live endpoint's model"),
            ("VoiceFunctionName", self.voice.function.function_name, "Lists audio files, writes feedback records"),
        ):
            CfnOutput(self, name, value=value, description=description)
