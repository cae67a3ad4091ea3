package httpapi

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tend-sh/tend/internal/logfile"
)

func TestLogWriteErrorsMetric(t *testing.T) {
	var b bytes.Buffer
	if !logfile.InUse() {
		writeMetrics(&b, nil, 0, 0)
		if strings.Contains(b.String(), "tend_log_write_errors_total") {
			t.Errorf("the metric is shown without any log file:\n%s", b.String())
		}
	}
	w, err := logfile.Open(filepath.Join(t.TempDir(), "web.log"), logfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	b.Reset()
	writeMetrics(&b, nil, 0, 0)
	want := "# TYPE tend_log_write_errors_total counter\ntend_log_write_errors_total "
	if !strings.Contains(b.String(), want) {
		t.Errorf("metrics lack %q:\n%s", want, b.String())
	}
}
