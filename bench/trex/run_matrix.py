#!/usr/bin/env python3
"""Sweep dexplane's benchmark matrix with a TRex server and write the CSV
that ``dexbench plot`` reads (the same columns as ``dexbench run``).

The TRex server (t-rex-64 -i) runs on the generator machine, its port 0
cabled to the DUT's port 0 (west, outside) and its port 1 to the DUT's
port 1 (east, inside). For every scenario this script

 1. calls the DUT hook (``--dut-hook``), which must put the DUT into the
    scenario's state and return when it forwards: for dexplane, install the
    config that ``dexbench config`` prints (passed as $DEX_CONFIG) and
    restart ``dexplane run``; for the kernel baseline, enable IPv6
    forwarding; for the XDP baseline, attach the redirect program. The hook
    gets the scenario in environment variables (see ``hook_env``);
 2. loads the matching profile (bench/trex/dex_profile.py) on port 0,
    starts it at ``--mult`` (default 100% = line rate), waits ``--warmup``,
    clears the counters, waits ``--duration``, reads the counters, stops;
 3. appends one CSV row per repetition (repetitions interleaved).

It needs trex_stl_lib (from the TRex package, e.g. PYTHONPATH=
$TREX/automation/trex_control_plane/interactive). See README.md.
"""

import argparse
import csv
import datetime
import os
import platform
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import dex_profile  # noqa: E402
import dexpkt  # noqa: E402

try:
    from trex_stl_lib.api import STLClient, STLStream, STLPktBuilder, STLTXCont
    HAVE_TREX = True
except ImportError:
    HAVE_TREX = False

# Same columns, same order as bench/scenario.Row (checked by trex_test.go).
COLUMNS = [
    "run_id", "time", "generator", "host", "kernel", "cpu_model", "ncpu", "go_version", "load1",
    "scenario", "variant", "dut", "role", "inject_pct", "k", "n", "trace_type", "ext_flags", "steer", "workers",
    "size", "flows", "rep",
    "target_pps", "window_s", "offered_pps", "rx_pps", "rx_mbps", "rx_dex_frac", "sent", "received", "lost",
    "loss_pct", "corrupt", "late", "sink_drops", "dut_proc_cpu_s", "dut_proc_ns_per_pkt", "softirq_cpu_s",
    "softirq_ns_per_pkt", "dut_core_cpu_s", "dut_core_ns_per_pkt", "machine_cpu_s", "machine_ns_per_pkt",
    "export_msgs", "limit", "check", "error",
]

RATES = [0.001, 1, 5, 10, 25, 50, 100]
ROLES = ["encap-inline", "encap-ip6ip6", "encap-ip6ip6-tunsrc", "transit", "decap"]


def fmt_pct(p):
    """0.001 -> '0.001%', 1.0 -> '1%' (as bench/scenario.fmtPct)."""
    return ("%.3f" % p).rstrip("0").rstrip(".") + "%"


def injection_kn(pct):
    """Percent -> reduced k/n with 0.001 % resolution (as gen.InjectionKN)."""
    if pct <= 0:
        return 0, 1
    if pct >= 100:
        return 1, 1
    num, den = max(1, round(pct * 1000)), 100000
    a, b = num, den
    while b:
        a, b = b, a % b
    return num // a, den // a


class Scenario(object):
    """One matrix cell; name() and variant() match bench/scenario."""

    def __init__(self, dut, role="forward", inject=0.0, trace_type=0x800000, ext_flags=0, steer="all", workers=1,
                 size=1500):
        self.dut, self.role, self.inject = dut, role, inject
        self.trace_type, self.ext_flags, self.steer, self.workers, self.size = (trace_type, ext_flags, steer,
                                                                                 workers, size)

    def name(self):
        if self.dut != "dexplane":
            return "%s/%d" % (self.dut, self.size)
        if self.role == "forward":
            return "dexplane-ioam-off/%s/w%d/%d" % (self.steer, self.workers, self.size)
        return "%s/%s/tt%06x/ext%02x/%s/w%d/%d" % (self.role, fmt_pct(self.inject), self.trace_type, self.ext_flags,
                                                  self.steer, self.workers, self.size)

    def variant(self):
        if self.dut != "dexplane" or self.role == "forward":
            return self.name()
        return "tt=0x%06x ext=0x%02x %s w%d" % (self.trace_type, self.ext_flags, self.steer, self.workers)

    def stream(self, flows, dst_mac, src_mac):
        """Profile tunables for this scenario (the generator side)."""
        t = dict(mode="plain", inject=100.0, size=self.size, flows=flows, trace_type=self.trace_type,
                 ext_flags=self.ext_flags, dst_mac=dst_mac, src_mac=src_mac)
        hbh = dexpkt.dex_hbh_len(self.ext_flags)
        if self.role == "encap-inline":
            t["size"] = self.size - hbh
        elif self.role in ("encap-ip6ip6", "encap-ip6ip6-tunsrc"):
            t["size"] = self.size - 40 - hbh
        elif self.role == "transit":
            t.update(mode="inline", inject=self.inject)
        elif self.role == "decap":
            t.update(mode="ip6ip6", inject=self.inject)
        return t


def matrix(kind, workers):
    """quick: baselines + each role at 1 and 100 %; paper: every role at
    every rate plus ext-flags 0x80/0xC0 for encap inline; both at the given
    worker count (the NIC testbed's queue count)."""
    out = [Scenario("kernel"), Scenario("xdp-redirect"), Scenario("dexplane", workers=workers),
           Scenario("dexplane", steer="sampled", workers=workers)]
    rates = [1, 100] if kind == "quick" else RATES
    for role in ROLES:
        for r in rates:
            out.append(Scenario("dexplane", role, r, workers=workers))
    if kind == "paper":
        for ext in (0x80, 0xC0):
            for r in RATES:
                out.append(Scenario("dexplane", "encap-inline", r, ext_flags=ext, workers=workers))
        for r in RATES:
            out.append(Scenario("dexplane", "encap-inline", r, steer="sampled", workers=workers))
    return out


def hook_env(s, config_path):
    """Environment for the DUT hook."""
    env = dict(os.environ)
    env.update(DEX_SCENARIO=s.name(), DEX_DUT=s.dut, DEX_ROLE=s.role, DEX_INJECT=str(s.inject),
               DEX_TRACE_TYPE="%#x" % s.trace_type, DEX_EXT_FLAGS="%#x" % s.ext_flags, DEX_STEER=s.steer,
               DEX_WORKERS=str(s.workers), DEX_CONFIG=config_path or "")
    return env


def dut_config(args, s):
    """Write the dexplane config of s (via dexbench config) and return its path."""
    if s.dut != "dexplane":
        return None
    cmd = args.dexbench.split() + ["config", "-role", s.role, "-inject", str(s.inject), "-trace-type",
                                   "%#x" % s.trace_type, "-ext-flags", "%#x" % s.ext_flags, "-steer", s.steer,
                                   "-workers", str(s.workers), "-west", args.west, "-east", args.east,
                                   "-attach", args.attach]
    if args.cpus:
        cmd += ["-cpus", args.cpus]
    y = subprocess.check_output(cmd)
    path = os.path.join(args.workdir, "dut.yaml")
    with open(path, "wb") as f:
        f.write(y)
    return path


def measure(client, args, s):
    """Run one repetition of s; returns the measured fields."""
    tx, rx = args.ports
    t = s.stream(args.flows, args.dst_mac, args.src_mac)
    specs = dex_profile.stream_specs(**t)
    streams = [STLStream(name=name, packet=STLPktBuilder(pkt=pkt, vm=dex_profile._field_engine(pkt, args.flows)),
                         mode=STLTXCont(percentage=100.0 * share)) for name, pkt, share in specs]
    client.reset(ports=[tx, rx])
    client.set_port_attr(ports=[tx, rx], promiscuous=True)
    client.add_streams(streams, ports=[tx])
    client.start(ports=[tx], mult=args.mult)
    time.sleep(args.warmup)
    client.clear_stats(ports=[tx, rx])
    t0 = time.time()
    time.sleep(args.duration)
    st = client.get_stats(ports=[tx, rx])
    window = time.time() - t0
    client.stop(ports=[tx])
    client.wait_on_traffic(ports=[tx], timeout=10)
    time.sleep(0.5)
    end = client.get_stats(ports=[tx, rx])
    sent, recv = end[tx]["opackets"], end[rx]["ipackets"]
    return dict(window_s=window, offered_pps=st[tx]["opackets"] / window, rx_pps=st[rx]["ipackets"] / window,
                rx_mbps=st[rx]["ibytes"] * 8 / window / 1e6, sent=sent, received=recv, lost=sent - recv,
                loss_pct=100.0 * (sent - recv) / sent if sent else 0.0,
                limit="dut" if sent and (sent - recv) > 0.001 * sent else "generator")


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return dict(host=socket.gethostname(), kernel=platform.release(), cpu_model=cpu, ncpu=os.cpu_count(),
                go_version="")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", default="127.0.0.1", help="TRex server address")
    p.add_argument("--ports", type=int, nargs=2, default=[0, 1], metavar=("TX", "RX"))
    p.add_argument("--matrix", choices=["quick", "paper"], default="paper")
    p.add_argument("--filter", default="", help="keep scenarios whose name contains this text (baselines stay)")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--mult", default="100%", help="TRex rate multiplier: 100%% = line rate, or 3mpps, 20gbps")
    p.add_argument("--flows", type=int, default=1024, help="UDP source ports (RSS spread)")
    p.add_argument("--workers", type=int, default=1, help="dexplane queues/workers")
    p.add_argument("--dst-mac", default="ff:ff:ff:ff:ff:ff",
                   help="destination MAC of generated frames (the receiving TRex port's MAC for a bump in the wire)")
    p.add_argument("--src-mac", default=dexpkt.DEFAULTS["src_mac"])
    p.add_argument("--dut-hook", required=False, help="command that puts the DUT into each scenario's state")
    p.add_argument("--dexbench", default="go run ./bench/cmd/dexbench", help="how to run dexbench (for configs)")
    p.add_argument("--west", default="ens1f0", help="DUT port 0 (cabled to TRex TX)")
    p.add_argument("--east", default="ens1f1", help="DUT port 1 (cabled to TRex RX)")
    p.add_argument("--attach", default="native")
    p.add_argument("--cpus", default="", help="DUT worker cpulist")
    p.add_argument("--workdir", default=".")
    p.add_argument("--out", required=False, help="CSV file (default results-RUNID.csv)")
    p.add_argument("--list", action="store_true", help="print the scenarios and exit")
    args = p.parse_args()

    scens = matrix(args.matrix, args.workers)
    if args.filter:
        scens = [s for s in scens if args.filter in s.name() or s.dut != "dexplane" or s.role == "forward"]
    if args.list:
        for s in scens:
            print(s.name())
        return 0
    if not HAVE_TREX:
        sys.exit("run_matrix.py: trex_stl_lib is not importable; set PYTHONPATH to "
                 "$TREX/automation/trex_control_plane/interactive (see README.md)")
    run_id = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or "results-%s.csv" % run_id
    m = machine()
    client = STLClient(server=args.server)
    client.connect()
    try:
        with open(out, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=COLUMNS)
            w.writeheader()
            total, done = len(scens) * args.reps, 0
            for rep in range(1, args.reps + 1):
                for s in scens:
                    k, n = injection_kn(s.inject) if s.role != "forward" else (0, 0)
                    row = dict(run_id=run_id, generator="trex", rep=rep, scenario=s.name(), variant=s.variant(),
                               dut=s.dut, role=s.role, inject_pct=s.inject if s.role != "forward" else 0, k=k, n=n,
                               trace_type="0x%06x" % s.trace_type if s.role != "forward" else "",
                               ext_flags="0x%02x" % s.ext_flags if s.role != "forward" else "",
                               steer=s.steer if s.dut == "dexplane" else "",
                               workers=s.workers if s.dut == "dexplane" else 0, size=s.size, flows=args.flows, **m)
                    row["time"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                    row["load1"] = os.getloadavg()[0]
                    try:
                        if args.dut_hook:
                            subprocess.run(args.dut_hook, shell=True, check=True,
                                           env=hook_env(s, dut_config(args, s)))
                        row.update(measure(client, args, s))
                    except Exception as e:  # one failed repetition must not end the sweep
                        row["error"] = str(e).replace("\n", " ")
                    w.writerow(row)
                    f.flush()
                    done += 1
                    print("[%d/%d] %s: %s" % (done, total, s.name(),
                                              row.get("error") or "%.0f pps" % row.get("rx_pps", 0)), flush=True)
    finally:
        client.disconnect()
    print("wrote %s; plot with: go run ./bench/cmd/dexbench plot -o DIR %s" % (out, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
