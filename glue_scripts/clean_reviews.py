"""Glue entry point of the review-cleaning job: parse the arguments, run (the job is the ``review_cleaning`` package).

On Glue the package arrives as a zip in ``--extra-py-files``, beside ``review_text.py`` and
``pipeline_contracts.py``; locally the three are installed with the project (``pip install -e .``). Run it alone:
``.venv/bin/python glue_scripts/clean_reviews.py --input_uri ... --curated_uri ... --run_id ...``.
"""

import sys

from review_cleaning.job import main

if __name__ == "__main__":
    sys.exit(main())
