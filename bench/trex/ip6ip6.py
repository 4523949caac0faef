"""TRex STL profile: IPv6-in-IPv6 with DEX in the outer Hop-by-Hop header on `inject` percent of packets (decap).

Same tunables as dex_profile.py, e.g. ``start -f bench/trex/ip6ip6.py -m 100% -t inject=1,flows=1024``.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dex_profile import preset  # noqa: E402

# The entry point TRex calls to load the profile.
register = preset("ip6ip6")
