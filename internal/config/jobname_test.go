package config

import (
	"strings"
	"testing"
)

// Issue 17 item 2: a crontab job's name (its identity across reloads)
// depends on the file's name and its own schedule and command, not on the
// lines around it: editing comments, adding or removing other jobs or
// environment lines leaves it alone. Before, jobs were named FILE-LINE.
func TestCrontabJobNamesStable(t *testing.T) {
	before := "# nightly\n0 3 * * * /usr/local/bin/backup --all\n*/5 * * * * /app/poll\n@hourly /app/poll\n"
	edits := []struct{ name, in string }{
		{"comment inserted above", "# nightly\n# the backup takes an hour\n# do not move it\n0 3 * * * /usr/local/bin/backup --all\n*/5 * * * * /app/poll\n@hourly /app/poll\n"},
		{"blank lines and an env line", "\n\nMAILTO=\"\"\n# nightly\n0 3 * * * /usr/local/bin/backup --all\n\n*/5 * * * * /app/poll\n@hourly /app/poll\n"},
		{"a job added before, one removed", "@daily /app/new\n0 3 * * * /usr/local/bin/backup --all\n@hourly /app/poll\n"},
		{"reordered", "@hourly /app/poll\n*/5 * * * * /app/poll\n0 3 * * * /usr/local/bin/backup --all\n"},
	}
	names := func(in string) map[string]string { // schedule+command -> name
		t.Helper()
		jobs, err := parseCrontab("/etc/crontab", []byte(in), env(), cronNow)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, j := range jobs {
			if !validServiceName(j.Name) {
				t.Errorf("job name %q is not a valid service name (%s)", j.Name, serviceNameForm)
			}
			m[j.Schedule+" "+j.Command[2]] = j.Name
		}
		return m
	}
	orig := names(before)
	if got := orig["0 3 * * * /usr/local/bin/backup --all"]; !strings.HasPrefix(got, "crontab-backup-") {
		t.Errorf("backup job named %q, want crontab-backup-HASH (readable)", got)
	}
	if orig["*/5 * * * * /app/poll"] == orig["@hourly /app/poll"] {
		t.Error("two jobs with the same command and different schedules share a name")
	}
	for _, e := range edits {
		for k, n := range names(e.in) {
			if o, ok := orig[k]; ok && o != n {
				t.Errorf("%s: job %q renamed %q -> %q", e.name, k, o, n)
			}
		}
	}
	// A changed command or schedule is another job.
	if a, b := names("@hourly /app/poll\n"), names("@hourly /app/poll --fast\n"); a["@hourly /app/poll"] == b["@hourly /app/poll --fast"] {
		t.Error("a changed command kept the job's name")
	}
}

// Duplicates (the same schedule and command twice) are numbered in file
// order, deterministically; names stay within the limit for long file
// names and commands.
func TestCrontabJobNamesDuplicatesAndLength(t *testing.T) {
	in := "@hourly /app/poll\n# again\n@hourly /app/poll\n@hourly /app/poll\n"
	jobs, err := parseCrontab("/etc/crontab", []byte(in), env(), cronNow)
	if err != nil {
		t.Fatal(err)
	}
	base := jobName("crontab", "@hourly", "/app/poll")
	want := []string{base, base + "-2", base + "-3"}
	for i, j := range jobs {
		if j.Name != want[i] {
			t.Errorf("job %d (line %d) named %q, want %q", i, j.Line, j.Name, want[i])
		}
	}
	long := "/etc/" + strings.Repeat("a-very-long-crontab-file-name", 4) + ".cron"
	in = "@hourly /" + strings.Repeat("x", 300) + " arg\n@hourly \"quoted\"\n@hourly ././/\n"
	jobs, err = parseCrontab(long, []byte(strings.Repeat(in, 3)), env(), cronNow)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if !validServiceName(j.Name) {
			t.Errorf("job %q of line %d: not a valid service name (%s)", j.Name, j.Line, serviceNameForm)
		}
	}
	if n := jobs[1].Name; !strings.Contains(n, "-quoted-") {
		t.Errorf("job of \"quoted\" named %q", n)
	}
}
