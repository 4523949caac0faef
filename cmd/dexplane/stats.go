package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/dexplane/dexplane/internal/metrics"
)

// defaultStatsAddr is where `dexplane stats` looks without --addr or --url.
const defaultStatsAddr = "localhost:9102"

// clearScreen moves the cursor home and clears the terminal (ANSI).
const clearScreen = "\x1b[H\x1b[2J"

func runStats(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return stats(ctx, args, os.Stdout, os.Stderr)
}

// stats implements "dexplane stats": it fetches /stats (metrics.Stats JSON)
// from a running node's metrics endpoint and prints a table once, or
// every --watch interval until ctx is done or -n refreshes were shown.
// Exit code 0, 1 when the node cannot be read (once mode), 2 on usage
// errors.
func stats(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("stats", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", defaultStatsAddr, "metrics endpoint `HOST:PORT` of the node (dataplane.metrics_address)")
	rawURL := fs.String("url", "", "full `URL` of the node's /stats (overrides --addr)")
	watch := fs.Duration("watch", 0, "refresh every `INTERVAL` (e.g. 1s) until interrupted; 0 prints once")
	asJSON := fs.Bool("json", false, "print the raw JSON snapshot instead of the table (one object per line with --watch)")
	count := fs.Int("n", 0, "with --watch, stop after `N` refreshes (0: until interrupted)")
	timeout := fs.Duration("timeout", 5*time.Second, "HTTP timeout per request")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dexplane stats [--addr HOST:PORT | --url URL] [--watch 1s [-n N]] [--json]")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 || *watch < 0 || *count < 0 {
		fs.Usage()
		return 2
	}
	target, err := statsURL(*addr, *rawURL)
	if err != nil {
		fmt.Fprintln(stderr, "dexplane stats:", err)
		return 2
	}
	client := &http.Client{Timeout: *timeout}

	if *watch == 0 {
		cur, body, err := fetchStats(ctx, client, target)
		if err != nil {
			fmt.Fprintln(stderr, "dexplane stats:", err)
			return 1
		}
		if *asJSON {
			_, err = stdout.Write(body)
		} else {
			err = writeStatsTable(stdout, target, cur, nil)
		}
		if err != nil {
			fmt.Fprintln(stderr, "dexplane stats:", err)
			return 1
		}
		return 0
	}

	tick := time.NewTicker(*watch)
	defer tick.Stop()
	var prev *metrics.Stats
	for shown := 0; *count == 0 || shown < *count; shown++ {
		if shown > 0 {
			select {
			case <-ctx.Done():
				return 0
			case <-tick.C:
			}
		}
		cur, body, err := fetchStats(ctx, client, target)
		switch {
		case ctx.Err() != nil:
			return 0
		case err != nil && *asJSON:
			// Keep stdout valid JSON lines; report on stderr, retry.
			fmt.Fprintln(stderr, "dexplane stats:", err)
			continue
		case err != nil:
			// Keep the screen alive while the node restarts.
			_, err = fmt.Fprintf(stdout, "%sdexplane stats  %s  %s\n\n%v\n", clearScreen, target, time.Now().Format(time.TimeOnly), err)
		case *asJSON:
			var line bytes.Buffer
			if err = json.Compact(&line, body); err == nil {
				line.WriteByte('\n')
				_, err = stdout.Write(line.Bytes())
			}
		default:
			if _, err = io.WriteString(stdout, clearScreen); err == nil {
				err = writeStatsTable(stdout, target, cur, prev)
			}
			prev = cur
		}
		if err != nil { // stdout is gone (closed pipe, full disk)
			fmt.Fprintln(stderr, "dexplane stats:", err)
			return 1
		}
	}
	return 0
}

// statsURL returns the /stats URL from --addr or --url.
func statsURL(addr, raw string) (string, error) {
	if raw == "" {
		if addr == "" {
			return "", errors.New("empty --addr")
		}
		return "http://" + addr + "/stats", nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("--url %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("--url %q: want http://HOST:PORT[/stats]", raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/stats"
	}
	return u.String(), nil
}

// fetchStats GETs target and decodes it; it also returns the raw body.
func fetchStats(ctx context.Context, client *http.Client, target string) (*metrics.Stats, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("request %s: %w", target, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("is the node running with dataplane.metrics_address set? %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", target, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("GET %s: %s", target, resp.Status)
	}
	var s metrics.Stats
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, nil, fmt.Errorf("GET %s: not a dexplane stats snapshot: %w", target, err)
	}
	return &s, body, nil
}

// rate returns (cur-prev)/dt as a table cell, "-" without a previous
// sample or after a counter reset.
func rate(cur, prev uint64, dt time.Duration, havePrev bool) string {
	if !havePrev || dt <= 0 || cur < prev {
		return "-"
	}
	return fmt.Sprintf("%.0f", float64(cur-prev)/dt.Seconds())
}

// writeStatsTable prints s as compact tables; prev, when not nil, is the
// previous sample, for per-second rates.
func writeStatsTable(w io.Writer, target string, s, prev *metrics.Stats) error {
	var b strings.Builder
	fmt.Fprintf(&b, "dexplane stats  %s  %s  workers %d", target, s.Time.Local().Format(time.TimeOnly), len(s.Workers))
	if c := s.Config; c != nil {
		fmt.Fprintf(&b, "  config generation %d, reload failures %d", c.Generation, c.ReloadFailures)
	}
	b.WriteString("\n\n")

	var dt time.Duration
	if prev != nil {
		dt = s.Time.Sub(prev.Time)
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	if len(s.Ports) > 0 {
		fmt.Fprintln(tw, "PORT\tRX PKTS\tRX PPS\tRX BYTES\tTX PKTS\tTX PPS\tTX BYTES\tDROPS\t")
		for i, p := range s.Ports {
			hp := prev != nil && i < len(prev.Ports)
			var pp metrics.PortStats
			if hp {
				pp = prev.Ports[i]
			}
			fmt.Fprintf(tw, "%d\t%d\t%s\t%d\t%d\t%s\t%d\t%d\t\n", p.Port,
				p.RxPackets, rate(p.RxPackets, pp.RxPackets, dt, hp), p.RxBytes,
				p.TxPackets, rate(p.TxPackets, pp.TxPackets, dt, hp), p.TxBytes, sum(p.Drops))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		b.WriteString("\n")
	}

	if hasNodes(s) {
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		writeNodeRow(tw, "WORKER", func(i int) string { return nodeColumns[i].head })
		tot := make([]uint64, len(nodeColumns))
		for _, ws := range s.Workers {
			n := ws.Node
			if n == nil {
				continue
			}
			ring := "-"
			if ws.Ring != nil {
				ring = fmt.Sprintf("%d/%d", ws.Ring.Len, ws.Ring.Cap)
			}
			writeNodeRow(tw, fmt.Sprint(ws.Worker), func(i int) string {
				value := nodeColumns[i].value
				if value == nil {
					return ring
				}
				v := value(n)
				tot[i] += v
				return strconv.FormatUint(v, 10)
			})
		}
		if len(s.Workers) > 1 {
			writeNodeRow(tw, "all", func(i int) string {
				if nodeColumns[i].value == nil {
					return ""
				}
				return strconv.FormatUint(tot[i], 10)
			})
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		b.WriteString("\n")
	}

	for _, p := range s.Ports {
		if d := nonZero(p.Drops); d != "" {
			fmt.Fprintf(&b, "drops port %d: %s\n", p.Port, d)
		}
	}
	if x := s.Export; x != nil {
		fmt.Fprintf(&b, "export: offered %d  exported %d  rate limit %d/s", x.Offered, x.Exported, x.RateLimit)
		if x.Tokens != nil {
			fmt.Fprintf(&b, " (%.0f tokens)", *x.Tokens)
		}
		if prev != nil && prev.Export != nil {
			fmt.Fprintf(&b, "  exported/s %s", rate(x.Exported, prev.Export.Exported, dt, true))
		}
		b.WriteString("\n")
		if d := nonZero(x.Drops); d != "" {
			fmt.Fprintf(&b, "export drops: %s\n", d)
		}
		if len(x.Collectors) > 0 || len(x.Outputs) > 0 {
			tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "COLLECTOR/OUTPUT\tUP\tRECORDS\tMESSAGES\tDROPS\tERRORS")
			for _, c := range x.Collectors {
				up := "down"
				if c.Up {
					up = "up"
				}
				fmt.Fprintf(tw, "%s %s\t%s\t%d\t%d\t%d\t%d\n", c.Transport, c.Collector, up, c.Records, c.Messages, c.Drops, c.SendErrors)
			}
			for _, o := range x.Outputs {
				name := o.Output
				if name == "" {
					name = "-"
				}
				fmt.Fprintf(tw, "%s %s\t\t%d\t\t%d\t%d\n", o.Format, name, o.Records, o.Drops, o.Errors)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func hasNodes(s *metrics.Stats) bool {
	for _, w := range s.Workers {
		if w.Node != nil {
			return true
		}
	}
	return false
}

// nodeColumn is one column of the worker table: its header and the value
// a worker's node counters give it (nil for the ring column, a gauge that
// the "all" row leaves empty).
type nodeColumn struct {
	head  string
	value func(n *metrics.NodeStats) uint64
}

// nodeColumns are the worker table's columns after WORKER, in order; the
// "all" row sums each counter column over the workers.
var nodeColumns = []nodeColumn{
	{head: "FORWARDED", value: func(n *metrics.NodeStats) uint64 { return n.Forwarded }},
	{head: "DROPPED", value: func(n *metrics.NodeStats) uint64 { return n.Dropped }},
	{head: "DEX INSERTED", value: func(n *metrics.NodeStats) uint64 { return sum(n.DEXInserted) }},
	{head: "DEX SEEN", value: func(n *metrics.NodeStats) uint64 { return n.DEXSeen }},
	{head: "DEX REMOVED", value: func(n *metrics.NodeStats) uint64 { return n.DEXRemoved }},
	{head: "SKIPPED", value: func(n *metrics.NodeStats) uint64 {
		var t uint64
		for _, r := range n.Skipped {
			t += sum(r)
		}
		return t
	}},
	{head: "MALFORMED", value: func(n *metrics.NodeStats) uint64 { return sum(n.Malformed) }},
	{head: "RECORDS", value: func(n *metrics.NodeStats) uint64 { return n.RecordsExported }},
	{head: "REC DROPS", value: func(n *metrics.NodeStats) uint64 { return n.RecordsDropped }},
	{head: "RING"},
	{head: "FLOWS", value: func(n *metrics.NodeStats) uint64 { return n.Flows }},
}

// writeNodeRow writes one row of the worker table: name, then cell(i) for
// each column nodeColumns[i], each cell ended by a tab.
func writeNodeRow(tw io.Writer, name string, cell func(i int) string) {
	row := []byte(name + "\t")
	for i := range nodeColumns {
		row = append(row, cell(i)...)
		row = append(row, '\t')
	}
	tw.Write(append(row, '\n'))
}

func sum(m map[string]uint64) uint64 {
	var t uint64
	for _, v := range m {
		t += v
	}
	return t
}

// nonZero formats the non-zero entries of m as "k=v k=v", sorted by key.
func nonZero(m map[string]uint64) string {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if v != 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
