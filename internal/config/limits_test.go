package config

import (
	"strings"
	"testing"
)

func TestLimits(t *testing.T) {
	svc := "[service.a]\ncommand = \"app\"\n" // keys go on line 3
	tests := []struct {
		name, in string
		mem      int64
		cpu      float64
		pids     int64
		err      string
	}{
		{name: "none", in: ""},
		{name: "binary size", in: `memory_max = "64Mi"`, mem: 64 << 20},
		{name: "decimal size", in: `memory_max = "100M"`, mem: 100e6},
		{name: "bytes", in: `memory_max = 2097152`, mem: 2 << 20},
		{name: "cpu float", in: `cpu_max = 0.5`, cpu: 0.5},
		{name: "cpu int", in: `cpu_max = 2`, cpu: 2},
		{name: "cpu string", in: `cpu_max = "1.5"`, cpu: 1.5},
		{name: "pids", in: `pids_max = 100`, pids: 100},
		{name: "all", in: "memory_max = \"1Gi\"\ncpu_max = 0.25\npids_max = 10", mem: 1 << 30, cpu: 0.25, pids: 10},
		{name: "size too small", in: `memory_max = "100Ki"`, err: `tend.toml:3: service.a.memory_max: 100Ki is less than 1Mi; accepted: a size of at least 1Mi`},
		{name: "size garbage", in: `memory_max = "lots"`, err: `tend.toml:3: service.a.memory_max: invalid size "lots"; accepted: a size of at least 1Mi`},
		{name: "size negative", in: `memory_max = -5`, err: `tend.toml:3: service.a.memory_max: negative size -5; accepted: a size`},
		{name: "size bool", in: `memory_max = true`, err: `tend.toml:3: service.a.memory_max: expected a size of at least 1Mi`},
		{name: "cpu zero", in: `cpu_max = 0`, err: `tend.toml:3: service.a.cpu_max: 0 is out of range; accepted: a number of CPU cores from 0.01 to 1024`},
		{name: "cpu huge", in: `cpu_max = 5000.0`, err: `tend.toml:3: service.a.cpu_max: 5000.0 is out of range`},
		{name: "cpu text", in: `cpu_max = "half"`, err: `tend.toml:3: service.a.cpu_max: "half" is not a number; accepted: a number of CPU cores`},
		{name: "cpu nan", in: `cpu_max = nan`, err: `tend.toml:3: service.a.cpu_max: nan is out of range`},
		{name: "pids zero", in: `pids_max = 0`, err: `tend.toml:3: service.a.pids_max: 0 is out of range; accepted: a number of processes (and threads) from 1 to 4194304`},
		{name: "pids string", in: `pids_max = "10"`, err: `tend.toml:3: service.a.pids_max: expected a number of processes`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("tend.toml", []byte(svc+tt.in+"\n"), env())
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Fatalf("error\n got %v\nwant prefix %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := c.Services[0]
			if s.MemoryMax != tt.mem || s.CPUMax != tt.cpu || s.PidsMax != tt.pids {
				t.Errorf("limits %d %v %d, want %d %v %d", s.MemoryMax, s.CPUMax, s.PidsMax, tt.mem, tt.cpu, tt.pids)
			}
			if s.HasLimits() != (tt.mem > 0 || tt.cpu > 0 || tt.pids > 0) {
				t.Errorf("HasLimits = %v", s.HasLimits())
			}
			// The plan loads back to the same limits.
			c2, err := Parse("tend.toml", []byte(c.Plan()), env())
			if err != nil {
				t.Fatalf("plan does not load: %v\n%s", err, c.Plan())
			}
			if !c2.Services[0].SameAs(s) {
				t.Errorf("plan loads back differently:\n%s", c.Plan())
			}
		})
	}
}
