"""``python -m bench``: the side-by-side benchmark suite (see ``bench/suite.py``)."""

from bench.suite import main

main()
