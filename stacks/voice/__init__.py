"""The voice state machine as named fragments, chained in execution order by ``definition.py``.

prepare -> list the audio files (Lambda) -> transcribe each file (Map: Amazon Transcribe job, polled; a failed or
timed-out file is recorded, never fatal) -> write the feedback records (Lambda) -> score them (the scoring state
machine, ``startExecution.sync:2``) -> notify. ``state.py`` owns the execution's state document.
"""
