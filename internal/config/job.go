package config

import (
	"strings"
	"time"

	"github.com/tend-sh/tend/internal/schedule"
)

// job collects a service's job keys (schedule, timezone, overlap, timeout)
// while its table is decoded; decoder.job checks them together.
type job struct {
	schedule, timezone, overlap, timeout, oneshot *field
	spec, zone, mode                              string
	limit                                         time.Duration
}

func (j *job) set(d *decoder, k string, f *field, key string) (err error) {
	switch k {
	case "schedule":
		j.schedule = f
		j.spec, err = d.nonEmpty(f, key, schedule.Form)
	case "timezone":
		j.timezone = f
		j.zone, err = d.nonEmpty(f, key, `an IANA time zone such as "Europe/Berlin" or "UTC"`)
	case "overlap":
		j.overlap = f
		j.mode, err = d.enum(f, key, overlapModes, "an overlap policy")
	case "timeout":
		j.timeout = f
		j.limit, err = d.duration(f, key)
	}
	return err
}

// job validates the job keys of service s and fills in its job fields.
func (d *decoder) job(s *Service, base []string, j *job, restartF, readyF, healthF *field) error {
	key := func(k string) string { return joinKey(append(base, k)) }
	if j.schedule == nil {
		for _, f := range []*field{j.timezone, j.overlap, j.timeout} {
			if f != nil {
				return d.errf(f.line, key(f.name), "only allowed on a job; add schedule = \"SPEC\" (accepted: "+schedule.Form+")")
			}
		}
		return nil
	}
	const why = "not allowed with schedule"
	switch {
	case j.oneshot != nil && s.Oneshot:
		return d.errf(j.oneshot.line, key("oneshot"), why+": a job runs to completion at each scheduled time; remove oneshot (or schedule)")
	case restartF != nil:
		return d.errf(restartF.line, key("restart"), why+": a failed run is not restarted, the next scheduled time is the retry; remove restart")
	case readyF != nil:
		return d.errf(readyF.line, key("ready"), why+": nothing can wait for a job")
	case healthF != nil:
		return d.errf(healthF.line, key("health"), why+": a job is not a long-running service")
	}
	loc, err := schedule.DefaultLocation(d.getenv)
	if j.timezone != nil {
		loc, err = schedule.LoadLocation(j.zone)
		if err != nil {
			return d.errf(j.timezone.val.line, key("timezone"), err.Error())
		}
	} else if err != nil {
		return d.errf(j.schedule.val.line, key("schedule"), "no timezone key, and "+err.Error())
	}
	now := d.now
	if now.IsZero() {
		now = time.Now()
	}
	if _, err := schedule.Parse(j.spec, loc, now); err != nil {
		return d.errf(j.schedule.val.line, key("schedule"), err.Error())
	}
	s.Schedule = strings.TrimSpace(j.spec)
	s.Timezone = loc.String()
	s.Overlap = OverlapSkip
	if j.mode != "" {
		s.Overlap = j.mode
	}
	s.Timeout = j.limit
	s.Restart = "never"
	return nil
}
