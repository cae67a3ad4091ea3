package signals

import (
	"syscall"
	"testing"
)

var sinkSig syscall.Signal

// BenchmarkRewriteApply is the per-signal lookup on the forwarding path.
func BenchmarkRewriteApply(b *testing.B) {
	r := Rewrite{syscall.SIGTERM: syscall.SIGQUIT, syscall.SIGUSR1: 0, syscall.SIGWINCH: syscall.SIGHUP}
	b.Run("hit", func(b *testing.B) {
		for b.Loop() {
			sinkSig = r.Apply(syscall.SIGTERM)
		}
	})
	b.Run("miss", func(b *testing.B) {
		for b.Loop() {
			sinkSig = r.Apply(syscall.SIGHUP)
		}
	})
	b.Run("nil", func(b *testing.B) {
		var none Rewrite
		for b.Loop() {
			sinkSig = none.Apply(syscall.SIGTERM)
		}
	})
}

// BenchmarkParse parses the forms accepted on the command line.
func BenchmarkParse(b *testing.B) {
	for _, s := range []string{"15", "TERM", "SIGTERM", "sigrtmin"} {
		b.Run(s, func(b *testing.B) {
			for b.Loop() {
				sig, err := Parse(s, false)
				if err != nil && s != "sigrtmin" {
					b.Fatal(err)
				}
				sinkSig = sig
			}
		})
	}
}

// BenchmarkParsePair is one --rewrite FROM:TO.
func BenchmarkParsePair(b *testing.B) {
	for b.Loop() {
		from, _, err := ParsePair("TERM:QUIT")
		if err != nil {
			b.Fatal(err)
		}
		sinkSig = from
	}
}

// BenchmarkForwardableName is the per-signal check and the name used in
// verbose logs.
func BenchmarkForwardableName(b *testing.B) {
	var n int
	for b.Loop() {
		if Forwardable(syscall.SIGUSR2) {
			n += len(Name(syscall.SIGUSR2))
		}
	}
	_ = n
}
