"""TRex STL profile: IPv6/UDP with an inline Hop-by-Hop DEX option on `inject` percent of packets (transit).

Same tunables as dex_profile.py, e.g. ``start -f bench/trex/inline.py -m 100% -t inject=1,flows=1024``.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dex_profile import preset  # noqa: E402

# The entry point TRex calls to load the profile.
register = preset("inline")
