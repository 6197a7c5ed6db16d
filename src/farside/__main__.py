import sys

from farside.cli import main

sys.exit(main())
