"""The pipeline's state machine as named fragments, one per stage, chained in execution order by ``definition.py``.

``state.py`` owns the execution's state document (every JSONPath the fragments read or write); each fragment's
docstring says which of its fields it reads and writes.
"""
