"""Entry point for `python -m telehealth`."""

import sys

from telehealth.cli import main

sys.exit(main())
