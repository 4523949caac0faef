package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"time"

	"github.com/dexplane/dexplane/internal/cli"
	"github.com/dexplane/dexplane/internal/probe"
)

func runProbe(args []string) int {
	if len(args) == 0 || (args[0] != "send" && args[0] != "recv") {
		fmt.Fprintln(os.Stderr, "usage: dexplane probe send|recv [flags]\n\nRun 'dexplane probe send -h' or 'dexplane probe recv -h' for their flags.")
		if len(args) > 0 && cli.IsHelp(args[0]) {
			return 0
		}
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	fs := flag.NewFlagSet("probe "+args[0], flag.ContinueOnError)
	switch args[0] {
	case "send":
		to := fs.String("to", "", "destination [ADDR]:PORT (IPv6)")
		flows := fs.Int("flows", 1, "distinct flows (one source port each)")
		base := fs.Uint("sport", 40000, "first source port")
		count := fs.Int("count", 1000, "datagrams to send")
		size := fs.Int("size", 64, "UDP payload octets")
		rate := fs.Int("rate", 0, "datagrams per second (0: as fast as possible)")
		if code, ok := parseFlags(fs, args[1:]); !ok {
			return code
		}
		ap, err := netip.ParseAddrPort(*to)
		if err != nil {
			fmt.Fprintf(os.Stderr, "dexplane probe send: -to %q: %v\n", *to, err)
			return 2
		}
		n, err := probe.Send(ctx, probe.SendOptions{To: ap, Flows: *flows, BasePort: uint16(*base),
			Count: *count, Size: *size, Rate: *rate})
		fmt.Printf("sent %d\n", n)
		if err != nil {
			fmt.Fprintln(os.Stderr, "dexplane probe send:", err)
			return 1
		}
	case "recv":
		listen := fs.String("listen", "[::]:5001", "UDP [ADDR]:PORT to listen on")
		idle := fs.Duration("idle", time.Second, "stop this long after the last datagram")
		timeout := fs.Duration("timeout", time.Minute, "stop after this long in any case")
		if code, ok := parseFlags(fs, args[1:]); !ok {
			return code
		}
		ua, err := net.ResolveUDPAddr("udp6", *listen)
		if err != nil {
			fmt.Fprintf(os.Stderr, "dexplane probe recv: -listen %q: %v\n", *listen, err)
			return 2
		}
		conn, err := net.ListenUDP("udp6", ua)
		if err != nil {
			fmt.Fprintln(os.Stderr, "dexplane probe recv:", err)
			return 1
		}
		defer conn.Close()
		conn.SetReadBuffer(8 << 20)
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		rep, err := probe.Listen(ctx, conn, *idle)
		fmt.Println(rep)
		if err != nil {
			fmt.Fprintln(os.Stderr, "dexplane probe recv:", err)
			return 1
		}
	}
	return 0
}
