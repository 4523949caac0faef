"""Packet builders for dexplane's TRex profiles (scapy only, no TRex needed).

Every function returns a scapy packet ``Ether/IPv6/...`` whose IPv6 packet
(outer header included) is exactly ``size`` octets long, so a 1500-octet
packet travels in a 1514-octet frame, as in the ULiege evaluation.

The DEX option bytes are the ones the ULiege kernel emits (spec section 3.6,
``struct ioam6_lwt_dex``): PadN(2), the IOAM option (type 0x31, IOAM
Option-Type 4 = DEX) with the optional Flow ID / Sequence Number fields, and
PadN(4) when one optional field leaves the header at 4 mod 8. The ULiege
TRex profile used Opt Data Len 0x12 for "flow id only", swallowing the PadN;
we emit the canonical form (opt_len 0x0e + PadN), which Linux also accepts.
"""

import struct

from scapy.layers.inet6 import IPv6, IPv6ExtHdrHopByHop, HBHOptUnknown, PadN
from scapy.layers.inet import UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

IOAM_OPTION_TYPE = 0x31
IOAM_TYPE_DEX = 4
EXT_FLOW_ID = 0x80
EXT_SEQ = 0x40

ETH_LEN = 14
IP6_LEN = 40
UDP_LEN = 8

# Defaults shared with bench/scenario (the netns testbed's addressing).
DEFAULTS = dict(
    src_mac="02:00:00:00:00:0a",
    dst_mac="02:00:00:00:00:0b",
    src="2001:db8:1::a",
    dst="2001:db8:1::b",
    sport=40000,
    dport=5001,
    tunsrc="2001:db8:ff::9",
    tundst="2001:db8:ff::2",
    ns=123,
    trace_type=0x800000,
    ext_flags=0x00,
    flow_id=0x1000,
    seq=0,
)


def popcount8(x):
    """Number of set bits in an octet."""
    return bin(x & 0xFF).count("1")


def dex_hbh_len(ext_flags):
    """Length in octets of a Hop-by-Hop header carrying only DEX: 16 or 24."""
    k = popcount8(ext_flags)
    return 16 + ((4 * k + 7) & ~7)


def dex_options(ns, trace_type, ext_flags, flow_id=0, seq=0):
    """The HbH option list carrying DEX, as scapy option objects."""
    if not 0 < trace_type <= 0xFFFFFF:
        raise ValueError("trace type %#x is not a non-zero 24-bit value" % trace_type)
    data = bytes([0, IOAM_TYPE_DEX])  # Reserved, IOAM Option-Type
    data += struct.pack("!HBB", ns, 0, ext_flags)
    data += struct.pack("!I", (trace_type & 0xFFFFFF) << 8)
    for bit in range(7, -1, -1):
        if not ext_flags & (1 << bit):
            continue
        if bit == 7:
            data += struct.pack("!I", flow_id & 0xFFFFFFFF)
        elif bit == 6:
            data += struct.pack("!I", seq & 0xFFFFFFFF)
        else:
            data += b"\x00\x00\x00\x00"  # unassigned flag: one zero field
    opts = [PadN(optdata=b""), HBHOptUnknown(otype=IOAM_OPTION_TYPE, optdata=data)]
    if (4 * popcount8(ext_flags)) % 8:
        opts.append(PadN(optdata=b"\x00\x00"))
    return opts


def dex_hbh(nh, **dex):
    """A Hop-by-Hop header (next header nh) carrying only the DEX option."""
    hbh = IPv6ExtHdrHopByHop(nh=nh, autopad=0, options=dex_options(**dex))
    return hbh


def _payload(n):
    if n < 0:
        raise ValueError("packet size too small for its headers (%d octets short)" % -n)
    return Raw(load=b"x" * n)


def _udp_ipv6(size, src, dst, sport, dport, hlim=64):
    """IPv6/UDP of exactly size octets."""
    return IPv6(src=src, dst=dst, nh=17, hlim=hlim) / UDP(sport=sport, dport=dport) / _payload(
        size - IP6_LEN - UDP_LEN)


def plain_packet(size=1500, src_mac=DEFAULTS["src_mac"], dst_mac=DEFAULTS["dst_mac"], src=DEFAULTS["src"],
                 dst=DEFAULTS["dst"], sport=DEFAULTS["sport"], dport=DEFAULTS["dport"], **_):
    """Ether/IPv6/UDP, IPv6 packet of size octets."""
    return Ether(src=src_mac, dst=dst_mac) / _udp_ipv6(size, src, dst, sport, dport)


def _dex_args(kw):
    return {k: kw.get(k, DEFAULTS[k]) for k in ("ns", "trace_type", "ext_flags", "flow_id", "seq")}


def inline_dex_packet(size=1500, src_mac=DEFAULTS["src_mac"], dst_mac=DEFAULTS["dst_mac"], src=DEFAULTS["src"],
                      dst=DEFAULTS["dst"], sport=DEFAULTS["sport"], dport=DEFAULTS["dport"], **kw):
    """Ether/IPv6/HbH(DEX)/UDP with the DEX option inline; size octets of IPv6."""
    dex = _dex_args(kw)
    hbh_len = dex_hbh_len(dex["ext_flags"])
    return (Ether(src=src_mac, dst=dst_mac) / IPv6(src=src, dst=dst, nh=0, hlim=64) / dex_hbh(17, **dex) /
            UDP(sport=sport, dport=dport) / _payload(size - IP6_LEN - hbh_len - UDP_LEN))


def ip6ip6_dex_packet(size=1500, src_mac=DEFAULTS["src_mac"], dst_mac=DEFAULTS["dst_mac"], src=DEFAULTS["src"],
                      dst=DEFAULTS["dst"], sport=DEFAULTS["sport"], dport=DEFAULTS["dport"],
                      tunsrc=DEFAULTS["tunsrc"], tundst=DEFAULTS["tundst"], **kw):
    """Ether/IPv6(outer)/HbH(DEX, nh 41)/IPv6/UDP; size octets of outer IPv6."""
    dex = _dex_args(kw)
    hbh_len = dex_hbh_len(dex["ext_flags"])
    inner = _udp_ipv6(size - IP6_LEN - hbh_len, src, dst, sport, dport)
    return (Ether(src=src_mac, dst=dst_mac) / IPv6(src=tunsrc, dst=tundst, nh=0, hlim=64) / dex_hbh(41, **dex) /
            inner)


BUILDERS = {"plain": plain_packet, "inline": inline_dex_packet, "ip6ip6": ip6ip6_dex_packet}


def build(mode, **kw):
    """Build one packet: mode is plain, inline or ip6ip6."""
    try:
        return BUILDERS[mode](**kw)
    except KeyError:
        raise ValueError("mode %r: want one of %s" % (mode, ", ".join(sorted(BUILDERS))))
