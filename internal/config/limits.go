package config

import (
	"strconv"
	"strings"

	"github.com/tend-sh/tend/internal/quantity"
)

// The resource limit keys of a service (memory_max, cpu_max, pids_max):
// where tend can create child cgroups, a service with any of them runs in
// its own cgroup with those limits; where it cannot, starting it is an
// error (package supervise, cgroup.go). Service.MemoryMax, CPUMax and
// PidsMax hold them; zero is no limit.

// Accepted values of the limit keys.
const (
	memoryMaxForm = "a size of at least 1Mi: bytes as a whole number or a quantity such as \"512Mi\", \"1G\" (K, M, G = powers of 1000; Ki, Mi, Gi = powers of 1024)"
	cpuMaxForm    = "a number of CPU cores from 0.01 to 1024, such as 0.5 or 2"
	pidsMaxForm   = "a number of processes (and threads) from 1 to 4194304"
	minMemoryMax  = 1 << 20
	minCPUMax     = 0.01
	maxCPUMax     = 1024
	maxPidsMax    = 4194304
)

// limit decodes one of the limit keys k of service s.
func (d *decoder) limit(s *Service, k string, f *field, key string) error {
	v := f.val
	switch k {
	case "memory_max":
		var raw any
		switch v.kind {
		case kString:
			str, err := d.expand(v, key, v.s)
			if err != nil {
				return err
			}
			raw = str
		case kInt:
			raw = v.i
		default:
			return d.typeErr(v, key, memoryMaxForm)
		}
		n, err := quantity.Value(raw)
		if err != nil {
			return d.errf(v.line, key, strings.TrimSuffix(err.Error(), "; "+quantity.Accepted)+"; accepted: "+memoryMaxForm)
		}
		if n < minMemoryMax {
			return d.errf(v.line, key, quantity.Format(n)+" is less than 1Mi; accepted: "+memoryMaxForm)
		}
		s.MemoryMax = n
	case "cpu_max":
		var text string
		switch v.kind {
		case kInt:
			text = strconv.FormatInt(v.i, 10)
		case kFloat:
			text = strings.ReplaceAll(v.s, "_", "")
		case kString:
			var err error
			if text, err = d.expand(v, key, v.s); err != nil {
				return err
			}
		default:
			return d.typeErr(v, key, cpuMaxForm)
		}
		x, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		if err != nil {
			return d.errf(v.line, key, tomlQuote(text)+" is not a number; accepted: "+cpuMaxForm)
		}
		if !(x >= minCPUMax && x <= maxCPUMax) {
			return d.errf(v.line, key, text+" is out of range; accepted: "+cpuMaxForm)
		}
		s.CPUMax = x
	case "pids_max":
		n, err := d.integer(f, key, 1, maxPidsMax, pidsMaxForm)
		if err != nil {
			return err
		}
		s.PidsMax = int64(n)
	}
	return nil
}

// HasLimits reports whether the service asks for any resource limit.
func (s *Service) HasLimits() bool { return s.MemoryMax > 0 || s.CPUMax > 0 || s.PidsMax > 0 }

// LimitKeys names the limit keys the service sets, in file order of the
// documentation: memory_max, cpu_max, pids_max.
func (s *Service) LimitKeys() []string {
	var ks []string
	if s.MemoryMax > 0 {
		ks = append(ks, "memory_max")
	}
	if s.CPUMax > 0 {
		ks = append(ks, "cpu_max")
	}
	if s.PidsMax > 0 {
		ks = append(ks, "pids_max")
	}
	return ks
}

// limitPlan shows a limit key in `tend check`'s plan.
func limitPlan(k string) func(b *strings.Builder, s *Service) {
	return func(b *strings.Builder, s *Service) {
		switch {
		case k == "memory_max" && s.MemoryMax > 0:
			kv(b, k, str(quantity.Format(s.MemoryMax)))
		case k == "cpu_max" && s.CPUMax > 0:
			kv(b, k, strconv.FormatFloat(s.CPUMax, 'f', -1, 64))
		case k == "pids_max" && s.PidsMax > 0:
			kv(b, k, strconv.FormatInt(s.PidsMax, 10))
		default:
			b.WriteString("# " + k + ": none\n")
		}
	}
}
