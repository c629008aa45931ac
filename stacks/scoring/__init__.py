"""The scoring state machine as named fragments, one per stage, chained in execution order by ``definition.py``.

prepare -> clean for scoring (the cleaning job, ``--mode score``) -> find the model (named, or the live endpoint's)
-> Batch Transform -> publish the predictions table and summary -> read the summary -> notify.
``state.py`` owns the execution's state document; each fragment's docstring says what it reads and writes.
"""
