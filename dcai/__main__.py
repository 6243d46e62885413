import sys

from dcai.cli import main

sys.exit(main())
