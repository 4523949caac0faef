"""TRex STL profile: IPv6/UDP traffic with and without IOAM DEX for dexplane.

Load it in TRex (stateless) and pass tunables, for example::

    trex> start -f bench/trex/dex_profile.py -m 100% -t mode=inline,inject=1,flows=1024
    trex> start -f bench/trex/dex_profile.py -m 10gbps -t mode=plain,size=1500

Tunables (all optional):

=============  ==========  ======================================================
name           default     meaning
=============  ==========  ======================================================
mode           plain       plain, inline (HbH DEX) or ip6ip6 (outer IPv6 + HbH DEX)
inject         100         percent of packets carrying DEX (0.001 ... 100); the
                           rest are plain packets of the same size (two streams,
                           rates in that ratio, as the ULiege generator profiles)
size           1500        IPv6 packet size in octets (frame = size + 14)
flows          1           distinct flows (UDP source ports, field engine); use
                           >= 64 x the DUT's queue count for RSS spreading
ns             123         DEX namespace
trace_type     0x800000    DEX IOAM-Trace-Type
ext_flags      0x00        DEX extension flags (0x80 flow id, 0x40 sequence)
src, dst       2001:db8:1::a, 2001:db8:1::b   inner addresses
src_mac, dst_mac           Ethernet addresses (set dst_mac to the DUT's
                           receiving port for a bump in the wire: any MAC that
                           the far TRex port accepts, promiscuous by default)
tunsrc, tundst 2001:db8:ff::9, 2001:db8:ff::2  outer addresses for ip6ip6
=============  ==========  ======================================================

For the encapsulating roles send ``mode=plain`` and let the DUT insert DEX
at its configured k/n; send packets shorter by the overhead (``size=1484``
inline, ``size=1436`` ip6ip6 with ext_flags 0x00, 8 octets less with flow id
or sequence) so that encapsulated packets leave at 1500 octets, as the paper
did.  For transit send ``mode=inline``, for decapsulation ``mode=ip6ip6``.

The module imports without TRex (scapy only): ``stream_specs`` describes the
streams, which the tests turn into a pcap and check with ``dexplane decode``.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dexpkt  # noqa: E402  (after the path fix so TRex finds it)

try:  # TRex is only present on a TRex server; the tests run without it.
    from trex_stl_lib.api import (STLProfile, STLStream, STLPktBuilder, STLTXCont, STLScVmRaw, STLVmFlowVar,
                                  STLVmWrFlowVar, STLVmFixChecksumHw, CTRexVmInsFixHwCs)
    HAVE_TREX = True
except ImportError:  # pragma: no cover - depends on the machine
    HAVE_TREX = False


def _int(v):
    return int(v, 0) if isinstance(v, str) else int(v)


TUNABLES = dict(mode=str, inject=float, size=int, flows=int, ns=_int, trace_type=_int, ext_flags=_int, src=str,
                dst=str, src_mac=str, dst_mac=str, tunsrc=str, tundst=str, sport=int, dport=int)


def parse_tunables(tunables=None, defaults=None, **kwargs):
    """Merge TRex tunables (argparse list of new TRex, or kwargs of old TRex)
    over a profile's defaults."""
    t = dict(mode="plain", inject=100.0, size=1500, flows=1)
    for k, v in (defaults or {}).items():
        t[k] = TUNABLES[k](v)
    if isinstance(tunables, (list, tuple)):
        p = argparse.ArgumentParser(prog="dex_profile.py", add_help=False)
        for name, typ in TUNABLES.items():
            p.add_argument("--" + name, type=typ)
        for k, v in vars(p.parse_args(list(tunables))).items():
            if v is not None:
                t[k] = v
    for k, v in kwargs.items():
        if k in TUNABLES and v is not None:
            t[k] = TUNABLES[k](v)
    if t["mode"] not in dexpkt.BUILDERS:
        raise ValueError("mode %r: want plain, inline or ip6ip6" % t["mode"])
    if not 0 <= t["inject"] <= 100:
        raise ValueError("inject %r: want a percentage 0 ... 100" % t["inject"])
    if t["flows"] < 1 or t["flows"] > 65535 - dexpkt.DEFAULTS["sport"] + 1:
        raise ValueError("flows %r out of range" % t["flows"])
    return t


def stream_specs(**tunables):
    """The streams of the profile: a list of (name, scapy packet, share).

    share is the fraction of the total packet rate the stream carries; the
    shares add up to 1. Without DEX (mode plain, or inject 0) there is one
    stream.
    """
    t = parse_tunables(**tunables)
    pkt_args = {k: v for k, v in t.items() if k not in ("mode", "inject", "flows")}
    share = t["inject"] / 100.0
    if t["mode"] == "plain" or share == 0:
        return [("plain", dexpkt.build("plain", **pkt_args), 1.0)]
    specs = [("dex-" + t["mode"], dexpkt.build(t["mode"], **pkt_args), share)]
    if share < 1:
        specs.append(("plain", dexpkt.build("plain", **pkt_args), 1.0 - share))
    return specs


def _field_engine(pkt, flows):
    """Vary the (inner) UDP source port over flows values and fix checksums."""
    if flows <= 1:
        return None
    sport = pkt["UDP"].sport
    l3 = "IPv6:1" if pkt.haslayer("IPv6") and pkt["IPv6"].payload.haslayer("IPv6") else "IPv6"
    return STLScVmRaw([
        STLVmFlowVar(name="sport", min_value=sport, max_value=sport + flows - 1, size=2, op="inc"),
        STLVmWrFlowVar(fv_name="sport", pkt_offset="UDP.sport"),
        STLVmFixChecksumHw(l3_offset=l3, l4_offset="UDP", l4_type=CTRexVmInsFixHwCs.L4_TYPE_UDP),
    ])


class DexProfile(object):
    """The STL profile object TRex instantiates through register().

    Subclasses set ``defaults`` (tunables applied before the user's).
    """

    defaults = {}

    def get_streams(self, tunables=None, direction=0, **kwargs):
        if not HAVE_TREX:
            raise RuntimeError("trex_stl_lib is not importable: run this profile inside TRex")
        t = parse_tunables(tunables, defaults=self.defaults, **kwargs)
        streams = []
        for name, pkt, share in stream_specs(**t):
            # Rates are relative: the total is scaled by the start multiplier
            # ("-m 100%" = line rate), the streams keep their ratio.
            streams.append(STLStream(name=name, packet=STLPktBuilder(pkt=pkt, vm=_field_engine(pkt, t["flows"])),
                                     mode=STLTXCont(percentage=100.0 * share)))
        return streams


def register():
    """Entry point TRex calls to load the profile."""
    return DexProfile()


def preset(mode):
    """The register() of a profile file that presets ``mode`` (plain.py, inline.py, ip6ip6.py).

    The user's tunables still override it, as any other default.
    """

    class Profile(DexProfile):
        defaults = dict(mode=mode)

    Profile.__doc__ = "dex_profile with mode=%s." % mode

    def register():
        """Entry point TRex calls to load the profile."""
        return Profile()

    return register
