"""`python -m bench.monitoring`: see `bench/monitoring/run.py`."""

import sys

from bench.monitoring.run import main

sys.exit(main(sys.argv[1:]))
