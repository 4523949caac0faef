package scenario

import (
	"bytes"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dexplane/dexplane/config"
)

func TestMatrixNamesAreUnique(t *testing.T) {
	for name, m := range map[string][]Scenario{"quick": Quick(), "full": Full()} {
		seen := map[string]bool{}
		for _, s := range m {
			if seen[s.Name()] {
				t.Errorf("%s: duplicate scenario %s", name, s.Name())
			}
			seen[s.Name()] = true
		}
	}
}

func TestFullCoversThePaperMatrix(t *testing.T) {
	has := map[string]bool{}
	for _, s := range Full() {
		has[s.Name()] = true
	}
	for _, r := range Roles {
		for _, p := range InjectionRates {
			s := dx(r, p, DefaultTraceType, 0, "all", 1)
			if !has[s.Name()] {
				t.Errorf("missing %s", s.Name())
			}
		}
	}
	for _, ext := range ExtFlags {
		if s := dx(RoleEncapInline, 100, DefaultTraceType, ext, "all", 1); !has[s.Name()] {
			t.Errorf("missing %s", s.Name())
		}
	}
	for _, b := range Baselines(1500, 1) {
		if !has[b.Name()] {
			t.Errorf("missing baseline %s", b.Name())
		}
	}
}

func TestFilterKeepsBaselines(t *testing.T) {
	got := Filter(Full(), "transit,/100%/,!sampled")
	var names []string
	for _, s := range got {
		names = append(names, s.Name())
	}
	joined := strings.Join(names, " ")
	for _, want := range []string{"kernel/1500", "xdp-redirect/1500", "dexplane-ioam-off/all/w1/1500",
		"transit/100%/tt800000/ext00/all/w1/1500", "transit/100%/tt800000/extc0/all/w1/1500"} {
		if !strings.Contains(joined, want) {
			t.Errorf("filter dropped %s; got %s", want, joined)
		}
	}
	for _, n := range names {
		if strings.Contains(n, "/64") || (strings.HasPrefix(n, "transit") && strings.Contains(n, "sampled")) {
			t.Errorf("filter kept unrelated scenario %s", n)
		}
	}
}

// Every generated DUT config must be accepted by the config package.
func TestFilterAlternatives(t *testing.T) {
	got := Filter(Full(), "decap,/1%/,ext00,all/w1; encap-inline,/100%/,ext00,sampled")
	var names []string
	for _, s := range got {
		if s.DUT == Dexplane && s.Role != RoleForward {
			names = append(names, s.Name())
		}
	}
	want := []string{"decap/1%/tt800000/ext00/all/w1/1500", "encap-inline/100%/tt800000/ext00/sampled/w1/1500"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("got %v, want %v", names, want)
	}
}

func TestDexplaneConfigsValidate(t *testing.T) {
	n := 0
	for _, s := range Full() {
		if s.DUT != Dexplane {
			continue
		}
		y, err := DexplaneConfig(s, ConfigOptions{ExportRate: 5000, West: "ens1f0", East: "ens1f1", CPUs: "2-3"})
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Parse(s.Name()+".yaml", y)
		if err != nil {
			t.Fatalf("%s: %v\n%s", s.Name(), err, y)
		}
		switch {
		case s.Role.IsEncap() && len(cfg.Routes) != 1:
			t.Errorf("%s: %d routes", s.Name(), len(cfg.Routes))
		case s.Role == RoleDecap && len(cfg.Decap.Endpoints) != 1:
			t.Errorf("%s: decap endpoints %v", s.Name(), cfg.Decap.Endpoints)
		case cfg.Dataplane.Steer != s.Steer || cfg.Dataplane.Queues != s.Workers:
			t.Errorf("%s: dataplane %+v", s.Name(), cfg.Dataplane)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no dexplane scenario")
	}
}

func TestStreamSizes(t *testing.T) {
	tb := &Testbed{Topology: "bitw"}
	for _, s := range []Scenario{
		dx(RoleEncapInline, 100, DefaultTraceType, 0x00, "all", 1),
		dx(RoleEncapInline, 100, DefaultTraceType, 0xC0, "all", 1),
		dx(RoleEncapIP6IP6, 100, DefaultTraceType, 0x80, "all", 1),
		dx(RoleTransit, 25, DefaultTraceType, 0x00, "all", 1),
		dx(RoleDecap, 1, DefaultTraceType, 0x00, "all", 1),
	} {
		spec, err := Stream(s, tb, 4)
		if err != nil {
			t.Fatal(err)
		}
		want := map[Role]int{RoleEncapInline: 1500 - spec.DEX.HbHLen(), RoleEncapIP6IP6: 1500 - 40 - spec.DEX.HbHLen(),
			RoleTransit: 1500, RoleDecap: 1500}[s.Role]
		if spec.Size != want {
			t.Errorf("%s: generator size %d, want %d", s.Name(), spec.Size, want)
		}
	}
}

func TestCSVRoundTripAndSummary(t *testing.T) {
	rows := []Row{}
	add := func(s Scenario, rep int, pps, ns float64) {
		r := Row{RunID: "r1", Scenario: s.Name(), Variant: s.Variant(), DUT: string(s.DUT), Role: string(s.Role),
			InjectPct: s.Inject, Steer: s.Steer, Workers: s.Workers, Size: s.Size, Rep: rep, RxPPS: pps,
			OfferedPPS: pps, DUTProcNsPerPkt: ns, DUTProcCPUS: ns * pps * 1e-9, Limit: "dut",
			MachineNsPerPkt: 1e9 / pps, MachineCPUS: 1}
		rows = append(rows, r)
	}
	base := Baselines(1500, 1)
	enc := dx(RoleEncapInline, 100, DefaultTraceType, 0, "all", 1)
	for rep := 1; rep <= 5; rep++ {
		add(base[0], rep, 100e3+float64(rep), 0)
		add(base[1], rep, 200e3, 0)
		add(base[2], rep, 140e3, 0) // afxdp-floor
		add(base[3], rep, 150e3, 800)
		add(enc, rep, 120e3+1000*float64(rep), 1000)
	}
	rows = append(rows, Row{RunID: "r1", Scenario: enc.Name(), Rep: 6, Error: "boom"})

	path := filepath.Join(t.TempDir(), "r.csv")
	w, err := CreateCSV(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		if err := w.Write(&rows[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	back, err := ReadCSVFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(rows) || back[3] != rows[3] || back[len(back)-1].Error != "boom" {
		t.Fatalf("round trip: got %d rows, first %+v", len(back), back[0])
	}
	sums := Summarize(back)
	if len(sums) != 5 {
		t.Fatalf("%d summaries", len(sums))
	}
	e := sums[4]
	if e.Errors != 1 || e.RxPPS.N != 5 || e.RxPPS.Median != 123e3 || e.RxPPS.Min != 121e3 || e.RxPPS.Max != 125e3 {
		t.Errorf("encap summary %+v", e)
	}
	if k := e.VsKernel; math.Abs(k-123e3/100003) > 1e-9 {
		t.Errorf("vs kernel %v", k)
	}
	if r := e.VsRedirect; math.Abs(r-123e3/200e3) > 1e-9 {
		t.Errorf("vs redirect %v", r)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"vs IOAM off", e.VsIOAMOff, 123e3 / 150e3},
		{"vs floor", e.VsFloor, 123e3 / 140e3},
		// machine ns/pkt is 1e9/pps here: floor ns ÷ encap ns = encap pps ÷ floor pps
		{"CPU vs floor", e.CPUVsFloor, 123e3 / 140e3},
		{"CPU vs kernel", e.CPUVsKernel, 123e3 / 100003},
	} {
		if !(math.Abs(c.got-c.want) < 1e-9) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	var md bytes.Buffer
	if err := WriteMarkdown(&md, sums); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "| "+enc.Name()+" | 5 | 123.0 [121.0–125.0]") {
		t.Errorf("markdown:\n%s", md.String())
	}
}
