import sys

from evals.steering.cli import main

sys.exit(main())
