"""TRex STL profile: Plain IPv6/UDP (the forwarding baselines and the encapsulating roles, whose DUT adds DEX).

Same tunables as dex_profile.py, e.g. ``start -f bench/trex/plain.py -m 100% -t inject=1,flows=1024``.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dex_profile import preset  # noqa: E402

# The entry point TRex calls to load the profile.
register = preset("plain")
