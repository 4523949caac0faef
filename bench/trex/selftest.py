"""Builds every stream of the TRex profiles without TRex and writes a pcap.

Usage: python3 selftest.py OUT.pcap

Prints a JSON list with one object per packet in the pcap (same order): the
mode, the DEX fields the packet must carry and its frame length, for
bench/trex/trex_test.go to compare with ``dexplane decode --json``.
Exits non-zero if a profile does not import or a packet has the wrong size.
"""

import importlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from scapy.utils import wrpcap  # noqa: E402

import dex_profile  # noqa: E402

PROFILES = ("dex_profile", "plain", "inline", "ip6ip6")
RATES = (0.001, 1, 5, 10, 25, 50, 100)


def main(out):
    for name in PROFILES:
        prof = importlib.import_module(name).register()
        if name != "dex_profile" and prof.defaults != dict(mode=name):
            raise SystemExit("%s.register() presets %r, want mode=%s" % (name, prof.defaults, name))
        if not hasattr(prof, "get_streams"):
            raise SystemExit("%s.register() returned %r without get_streams" % (name, prof))
        if not dex_profile.HAVE_TREX:
            try:
                prof.get_streams(direction=0)
            except RuntimeError:
                pass
            else:
                raise SystemExit("%s: get_streams without TRex did not fail clearly" % name)

    pkts, expect = [], []
    cases = [dict(mode="plain", size=s) for s in (64, 512, 1500)]
    for mode in ("inline", "ip6ip6"):
        for ext in (0x00, 0x80, 0xC0):
            for tt in (0x800000, 0xF00000):
                cases.append(dict(mode=mode, ext_flags=ext, trace_type=tt, size=1500, flows=1024))
        for rate in RATES:
            cases.append(dict(mode=mode, inject=rate, size=1500))
    for c in cases:
        t = dex_profile.parse_tunables(**c)
        specs = dex_profile.stream_specs(**t)
        total = sum(share for _, _, share in specs)
        if abs(total - 1) > 1e-9:
            raise SystemExit("case %r: stream shares add up to %r" % (c, total))
        for name, pkt, share in specs:
            frame = bytes(pkt)
            if len(frame) != t["size"] + 14:
                raise SystemExit("case %r stream %s: frame of %d octets, want %d" % (c, name, len(frame), t["size"] + 14))
            pkts.append(pkt)
            e = dict(case=c, stream=name, share=share, frame_len=len(frame))
            if name == "plain":
                e["encap"] = "none"
            else:
                e.update(encap=t["mode"], ns=t.get("ns", 123), ext_flags=t.get("ext_flags", 0),
                         trace_type=t.get("trace_type", 0x800000))
                if e["ext_flags"] & 0x80:
                    e["flow_id"] = 0x1000
                if e["ext_flags"] & 0x40:
                    e["seq"] = 0
            expect.append(e)
    wrpcap(out, pkts)
    json.dump(expect, sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(sys.argv[1])
