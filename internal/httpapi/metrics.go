package httpapi

import (
	"bytes"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tend-sh/tend/internal/status"
)

// The exposition is written here rather than with a metrics library: the
// candidate (github.com/VictoriaMetrics/metrics v1.44.0) reads cgroup and
// /proc files, starts a goroutine and may log to stderr in its package
// init, which every tend invocation (tend status included) would pay. Only
// gauges and counters without timestamps are needed, in the text format
// version 0.0.4:
// https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format

// metric describes one family.
type metric struct {
	name, typ, help string
}

var (
	mUp       = metric{"tend_service_up", "gauge", "Whether the service has a running process (1) or not (0)."}
	mReady    = metric{"tend_service_ready", "gauge", "Whether the service is ready (1) or not (0)."}
	mRestarts = metric{"tend_service_restarts_total", "counter", "How many times tend has restarted the service."}
	mLastExit = metric{"tend_service_last_exit_code", "gauge", "Exit code of the service's last process (128+N when killed by signal N); absent until one has exited."}
	mStart    = metric{"tend_service_start_time_seconds", "gauge", "Start time of the service's current or last process, in seconds since the Unix epoch; absent if never started."}
	mRejected = metric{"tend_notify_rejected_total", "counter", "sd_notify messages sent to the service's NOTIFY_SOCKET by processes that are not the service's, ignored; only for services with ready = { notify = true }."}
	mOOMKills = metric{"tend_service_oom_kills_total", "counter", "Processes of the service the kernel killed for lack of memory (OOM), as told by the memory cgroup's oom_kill counter."}
	mOrphans  = metric{"tend_orphans_reaped_total", "counter", "Processes reaped by tend that were not its services."}
	mSignals  = metric{"tend_signals_forwarded_total", "counter", "Signals tend forwarded to its services."}
)

// writeMetrics writes every family, HELP and TYPE first, samples labelled
// with service="NAME" in the order of ss.
func writeMetrics(b *bytes.Buffer, ss []status.ServiceStatus, orphans, forwarded uint64) {
	perService := func(m metric, value func(s status.ServiceStatus) (string, bool)) {
		header(b, m)
		for _, s := range ss {
			if v, ok := value(s); ok {
				sample(b, m, s, "", v)
			}
		}
	}
	bit := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	perService(mUp, func(s status.ServiceStatus) (string, bool) { return bit(s.PID != 0), true })
	perService(mReady, func(s status.ServiceStatus) (string, bool) { return bit(s.Ready), true })
	perService(mRestarts, func(s status.ServiceStatus) (string, bool) { return strconv.Itoa(s.Restarts), true })
	perService(mLastExit, func(s status.ServiceStatus) (string, bool) {
		if s.LastExit == nil {
			return "", false
		}
		return strconv.Itoa(*s.LastExit), true
	})
	perService(mStart, func(s status.ServiceStatus) (string, bool) {
		if s.Started.IsZero() {
			return "", false
		}
		return unixSeconds(s.Started), true
	})
	perService(mOOMKills, func(s status.ServiceStatus) (string, bool) { return strconv.FormatUint(s.OOMKills, 10), true })
	perService(mRejected, func(s status.ServiceStatus) (string, bool) {
		if s.NotifyRejected == nil {
			return "", false
		}
		return strconv.FormatUint(*s.NotifyRejected, 10), true
	})
	writeJobMetrics(b, ss)
	header(b, mOrphans)
	b.WriteString(mOrphans.name + " " + strconv.FormatUint(orphans, 10) + "\n")
	header(b, mSignals)
	b.WriteString(mSignals.name + " " + strconv.FormatUint(forwarded, 10) + "\n")
	writeLogFileMetrics(b)
}

// sample writes the sample of m for service s: m{service="NAME"EXTRA} V,
// extra being more labels (`,result="success"`) or "".
func sample(b *bytes.Buffer, m metric, s status.ServiceStatus, extra, v string) {
	b.WriteString(m.name)
	b.WriteString(`{service="`)
	escapeLabel(b, s.Name)
	b.WriteByte('"')
	b.WriteString(extra)
	b.WriteString("} ")
	b.WriteString(v)
	b.WriteByte('\n')
}

// unixSeconds is t in seconds since the Unix epoch, to the millisecond.
func unixSeconds(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixNano())/1e9, 'f', 3, 64)
}

func header(b *bytes.Buffer, m metric) {
	b.WriteString("# HELP " + m.name + " " + m.help + "\n")
	b.WriteString("# TYPE " + m.name + " " + m.typ + "\n")
}

// escapeLabel writes a label value escaped as the text format requires:
// backslash, double quote and line feed; invalid UTF-8 becomes U+FFFD.
func escapeLabel(b *bytes.Buffer, v string) {
	if !utf8.ValidString(v) {
		v = strings.ToValidUTF8(v, "\uFFFD")
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteByte(c)
		}
	}
}

var (
	mJobRuns     = metric{"tend_job_runs_total", "counter", "Finished runs of a scheduled job, by result (success, failure, timeout)."}
	mJobSkipped  = metric{"tend_job_skipped_runs_total", "counter", "Due times of a scheduled job skipped because its previous run was still going."}
	mJobSuccess  = metric{"tend_job_last_success_time_seconds", "gauge", "When the job's last successful run ended, in seconds since the Unix epoch; absent until one has."}
	mJobDuration = metric{"tend_job_last_duration_seconds", "gauge", "How long the job's last finished run took; absent until one has finished."}
	mJobNext     = metric{"tend_job_next_run_time_seconds", "gauge", "The job's next due time, in seconds since the Unix epoch; absent while it is stopped."}
)

// writeJobMetrics writes the job families, only when there are jobs.
func writeJobMetrics(b *bytes.Buffer, ss []status.ServiceStatus) {
	jobs := status.Jobs(ss)
	if len(jobs) == 0 {
		return
	}
	header(b, mJobRuns)
	for _, s := range jobs {
		for _, r := range status.Results {
			sample(b, mJobRuns, s, `,result="`+r+`"`, strconv.FormatUint(s.Job.Runs[r], 10))
		}
	}
	header(b, mJobSkipped)
	for _, s := range jobs {
		sample(b, mJobSkipped, s, "", strconv.FormatUint(s.Job.Skipped, 10))
	}
	header(b, mJobSuccess)
	for _, s := range jobs {
		if s.Job.LastSuccess != nil {
			sample(b, mJobSuccess, s, "", unixSeconds(*s.Job.LastSuccess))
		}
	}
	header(b, mJobDuration)
	for _, s := range jobs {
		if d := s.Job.LastDurationSeconds; d != nil {
			sample(b, mJobDuration, s, "", strconv.FormatFloat(*d, 'f', 3, 64))
		}
	}
	header(b, mJobNext)
	for _, s := range jobs {
		if s.Job.Next != nil {
			sample(b, mJobNext, s, "", unixSeconds(*s.Job.Next))
		}
	}
}
