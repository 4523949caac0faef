package scenario

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Row is one CSV row: one scenario, one repetition. The field order is the
// column order; the `csv` tag is the column name. bench/trex/run_matrix.py
// writes the same columns.
type Row struct {
	RunID     string `csv:"run_id"`
	Time      string `csv:"time"` // RFC 3339, UTC
	Generator string `csv:"generator"`
	Host      string `csv:"host"`
	Kernel    string `csv:"kernel"`
	CPUModel  string `csv:"cpu_model"`
	NumCPU    int    `csv:"ncpu"`
	GoVersion string `csv:"go_version"`
	// Load1 is the 1-minute load average when the repetition started: a
	// hint of how busy the shared machine was.
	Load1 float64 `csv:"load1"`

	Scenario  string  `csv:"scenario"`
	Variant   string  `csv:"variant"`
	DUT       string  `csv:"dut"`
	Role      string  `csv:"role"`
	InjectPct float64 `csv:"inject_pct"`
	K         uint32  `csv:"k"`
	N         uint32  `csv:"n"`
	TraceType string  `csv:"trace_type"`
	ExtFlags  string  `csv:"ext_flags"`
	Steer     string  `csv:"steer"`
	Workers   int     `csv:"workers"`
	Size      int     `csv:"size"`
	Flows     int     `csv:"flows"`
	Rep       int     `csv:"rep"`

	TargetPPS  float64 `csv:"target_pps"`
	WindowS    float64 `csv:"window_s"`
	OfferedPPS float64 `csv:"offered_pps"`
	RxPPS      float64 `csv:"rx_pps"`
	RxMbps     float64 `csv:"rx_mbps"`
	// RxDEXFrac is the share of frames reaching the sink with DEX.
	RxDEXFrac float64 `csv:"rx_dex_frac"`
	Sent      uint64  `csv:"sent"`
	Received  uint64  `csv:"received"`
	Lost      int64   `csv:"lost"`
	LossPct   float64 `csv:"loss_pct"`
	Corrupt   uint64  `csv:"corrupt"`
	Late      uint64  `csv:"late"`
	SinkDrops uint64  `csv:"sink_drops"`
	// DUTProcCPUS and DUTProcNsPerPkt: CPU of the DUT process (dexplane
	// only) in the window, and per received packet.
	DUTProcCPUS     float64 `csv:"dut_proc_cpu_s"`
	DUTProcNsPerPkt float64 `csv:"dut_proc_ns_per_pkt"`
	// SoftirqCPUS and SoftirqNsPerPkt: machine-wide softirq time in the
	// window, and per received packet (kernel forwarding and XDP run here).
	SoftirqCPUS     float64 `csv:"softirq_cpu_s"`
	SoftirqNsPerPkt float64 `csv:"softirq_ns_per_pkt"`
	// DUTCoreCPUS and DUTCoreNsPerPkt: busy time of the CPU reserved for
	// the DUT (pinned runs only: generator and sink on another CPU, the
	// DUT's softirq work steered to its CPU by RPS), and per received
	// packet. The same measure for every DUT kind.
	DUTCoreCPUS     float64 `csv:"dut_core_cpu_s"`
	DUTCoreNsPerPkt float64 `csv:"dut_core_ns_per_pkt"`
	// MachineCPUS and MachineNsPerPkt: busy time of all CPUs (user,
	// system, softirq, steal, …) in the window, and per received packet:
	// the whole path's cost, wherever it ran (on a shared machine, other
	// tenants' work too).
	MachineCPUS     float64 `csv:"machine_cpu_s"`
	MachineNsPerPkt float64 `csv:"machine_ns_per_pkt"`
	// ExportMsgs counts the IPFIX datagrams the harness's collector
	// received from a dexplane DUT over the whole run.
	ExportMsgs uint64 `csv:"export_msgs"`
	Limit      string `csv:"limit"`
	// Check is "ok" when the frames reaching the sink carry DEX in the
	// share the scenario implies (encap, transit: the injection rate;
	// decap and forwarding: none), else what was seen: a row whose DUT did
	// not do the scenario's job measures something else.
	Check string `csv:"check"`
	// Error is set when the repetition failed; the numbers are then zero.
	Error string `csv:"error"`
}

// Columns returns the CSV header.
func Columns() []string {
	t := reflect.TypeOf(Row{})
	cols := make([]string, t.NumField())
	for i := range cols {
		cols[i] = t.Field(i).Tag.Get("csv")
	}
	return cols
}

// record returns the row's CSV fields.
func (r *Row) record() []string {
	v := reflect.ValueOf(r).Elem()
	out := make([]string, v.NumField())
	for i := range out {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			out[i] = f.String()
		case reflect.Int, reflect.Int64:
			out[i] = strconv.FormatInt(f.Int(), 10)
		case reflect.Uint32, reflect.Uint64:
			out[i] = strconv.FormatUint(f.Uint(), 10)
		case reflect.Float64:
			out[i] = strconv.FormatFloat(f.Float(), 'g', -1, 64)
		}
	}
	return out
}

// CSVWriter appends rows to a CSV file, flushing after each row so that an
// interrupted run keeps what it measured.
type CSVWriter struct {
	f *os.File
	w *csv.Writer
}

// CreateCSV creates path and writes the header.
func CreateCSV(path string) (*CSVWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create results: %w", err)
	}
	w := &CSVWriter{f: f, w: csv.NewWriter(f)}
	if err := w.write(Columns()); err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

func (w *CSVWriter) write(rec []string) error {
	if err := w.w.Write(rec); err != nil {
		return fmt.Errorf("write %s: %w", w.f.Name(), err)
	}
	w.w.Flush()
	if err := w.w.Error(); err != nil {
		return fmt.Errorf("write %s: %w", w.f.Name(), err)
	}
	return nil
}

// Write appends one row.
func (w *CSVWriter) Write(r *Row) error { return w.write(r.record()) }

// Close closes the file.
func (w *CSVWriter) Close() error { return w.f.Close() }

// ReadCSV reads rows written by CSVWriter or by the TRex runner. Columns
// are matched by name, so files with extra or missing columns still load.
func ReadCSV(rd io.Reader) ([]Row, error) {
	cr := csv.NewReader(rd)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read CSV header: %w", err)
	}
	idx := map[string]int{}
	for i, h := range head {
		idx[strings.TrimSpace(h)] = i
	}
	t := reflect.TypeOf(Row{})
	var rows []Row
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read CSV line %d: %w", line, err)
		}
		var r Row
		v := reflect.ValueOf(&r).Elem()
		for i := 0; i < t.NumField(); i++ {
			col, ok := idx[t.Field(i).Tag.Get("csv")]
			if !ok || col >= len(rec) || rec[col] == "" {
				continue
			}
			s := rec[col]
			f := v.Field(i)
			var perr error
			switch f.Kind() {
			case reflect.String:
				f.SetString(s)
			case reflect.Int, reflect.Int64:
				var n int64
				n, perr = strconv.ParseInt(s, 10, 64)
				f.SetInt(n)
			case reflect.Uint32, reflect.Uint64:
				var n uint64
				n, perr = strconv.ParseUint(s, 10, 64)
				f.SetUint(n)
			case reflect.Float64:
				var x float64
				x, perr = strconv.ParseFloat(s, 64)
				f.SetFloat(x)
			}
			if perr != nil {
				return nil, fmt.Errorf("CSV line %d column %s: %w", line, t.Field(i).Tag.Get("csv"), perr)
			}
		}
		rows = append(rows, r)
	}
}

// ReadCSVFiles reads and concatenates several CSV files.
func ReadCSVFiles(paths ...string) ([]Row, error) {
	var all []Row
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		rows, err := ReadCSV(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		all = append(all, rows...)
	}
	return all, nil
}

// Machine describes the machine a run is on; every row repeats it.
type Machine struct {
	Host, Kernel, CPUModel, GoVersion string
	NumCPU                            int
}

// ThisMachine reads the machine description from the running system.
func ThisMachine() Machine {
	m := Machine{NumCPU: runtime.NumCPU(), GoVersion: runtime.Version()}
	m.Host, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	return m
}

// load1 returns the 1-minute load average (0 if unreadable).
func load1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	x, _ := strconv.ParseFloat(f[0], 64)
	return x
}

// stamp fills the machine and time columns.
func (r *Row) stamp(runID string, m Machine) {
	r.RunID, r.Time, r.Generator = runID, time.Now().UTC().Format(time.RFC3339), "dexbench"
	r.Host, r.Kernel, r.CPUModel, r.NumCPU, r.GoVersion = m.Host, m.Kernel, m.CPUModel, m.NumCPU, m.GoVersion
	r.Load1 = load1()
}
