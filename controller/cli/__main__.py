"""`python3 -m controller.cli ARGS`: the `openplus-door` command before it is installed.

On a fresh Pi the first command is `sudo python3 -m controller.cli install`, run from the
checkout with the system's Python, which has none of the project's dependencies; `install`
needs none of them (main() runs it before loading the settings).
"""

import sys

from controller.cli.main import main

sys.exit(main())
