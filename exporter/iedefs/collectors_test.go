package iedefs

import (
	"encoding/xml"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/dexplane/dexplane/exporter"

	"github.com/dexplane/dexplane/internal/testutil"
)

func TestFilesUpToDate(t *testing.T) {
	for _, f := range Files {
		testutil.Golden(t, f.Path, f.Generate(), "go generate ./exporter/iedefs")
	}
}

func TestIPFIXcol2XML(t *testing.T) {
	var doc struct {
		Scope struct {
			PEN  uint32 `xml:"pen"`
			Name string `xml:"name"`
		} `xml:"scope"`
		Elements []struct {
			ID       uint16 `xml:"id"`
			Name     string `xml:"name"`
			DataType string `xml:"dataType"`
		} `xml:"element"`
	}
	if err := xml.Unmarshal(IPFIXcol2(), &doc); err != nil {
		t.Fatal(err)
	}
	// ULiège IEs 0-16, then dexplane's trace IEs 100-103.
	if doc.Scope.PEN != exporter.PEN || len(doc.Elements) != 17+4 {
		t.Fatalf("scope %+v, %d elements", doc.Scope, len(doc.Elements))
	}
	for i, e := range doc.Elements {
		want := uint16(i)
		if i >= 17 {
			want = uint16(100 + i - 17)
		}
		if e.ID != want || e.Name == "" || e.DataType == "" {
			t.Errorf("element %d: %+v", i, e)
		}
	}
	if e := doc.Elements[17]; e.Name != "ioamPreallocatedTraceData" || e.DataType != "octetArray" {
		t.Errorf("trace element %+v", e)
	}
}

func TestGoflow2YAML(t *testing.T) {
	var cfg struct {
		Formatter struct {
			Fields   []string `yaml:"fields"`
			Protobuf []struct {
				Name  string `yaml:"name"`
				Index int    `yaml:"index"`
				Type  string `yaml:"type"`
			} `yaml:"protobuf"`
		} `yaml:"formatter"`
		IPFIX struct {
			Mapping []struct {
				Field       uint16 `yaml:"field"`
				PenProvided bool   `yaml:"penprovided"`
				Pen         uint32 `yaml:"pen"`
				Destination string `yaml:"destination"`
			} `yaml:"mapping"`
		} `yaml:"ipfix"`
	}
	if err := yaml.Unmarshal(Goflow2(), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.IPFIX.Mapping) != len(cfg.Formatter.Protobuf) || len(cfg.IPFIX.Mapping) != 20+4 {
		t.Fatalf("%d mappings, %d protobuf fields", len(cfg.IPFIX.Mapping), len(cfg.Formatter.Protobuf))
	}
	m := cfg.IPFIX.Mapping[2]
	if m.Field != 2 || !m.PenProvided || m.Pen != 10383 || m.Destination != "ioam_node_id" {
		t.Fatalf("node id mapping %+v", m)
	}
}

func TestPmacctPrimitives(t *testing.T) {
	lines := 0
	for _, l := range strings.Split(string(Pmacct()), "\n") {
		if l == "" || l[0] == '!' {
			continue
		}
		lines++
		kv := map[string]string{}
		for _, f := range strings.Split(l, "\t") {
			k, v, ok := strings.Cut(f, "=")
			if !ok || strings.Contains(f, " ") {
				t.Fatalf("bad token %q in %q", f, l)
			}
			kv[k] = v
		}
		if kv["name"] == "" || kv["field_type"] == "" || kv["len"] == "" || kv["semantics"] == "" {
			t.Fatalf("incomplete line %q", l)
		}
	}
	if lines != 20+4 { // 4 trace IEs
		t.Fatalf("%d primitives", lines)
	}
	if !strings.Contains(string(Pmacct()), "name=ioam_trace_hop_index\tfield_type=10383:101\tlen=1\tsemantics=u_int") {
		t.Fatal("trace hop index primitive missing")
	}
	if !strings.Contains(string(Pmacct()), "name=ioam_node_id\tfield_type=10383:2\tlen=3\tsemantics=raw") {
		t.Fatal("node id primitive missing")
	}
}
