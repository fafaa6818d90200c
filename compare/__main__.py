"""python -m compare: see compare/cli.py."""
import sys

from .cli import main

sys.exit(main())
