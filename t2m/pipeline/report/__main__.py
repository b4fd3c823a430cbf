import sys

from t2m.pipeline.report.cli import main

sys.exit(main())
