"""`openplus-door stats rollup`: add the access events not yet counted to the statistics.

The door process does this before each daily purge; by hand it is for a first look after an
upgrade, or before a purge run from the command line (`events purge` rolls up first too).
"""

from __future__ import annotations

import argparse

from controller.config.settings import Settings
from controller.services.runtime import Runtime
from controller.services.statistics import roll_up


def stats_rollup(args: argparse.Namespace, settings: Settings) -> int:
    done = roll_up(Runtime.open(settings))
    print(
        f"{done.events} access event(s) rolled up into the statistics; "
        f"{done.periods_closed} finished period(s) closed (their member digests deleted)"
    )
    return 0
