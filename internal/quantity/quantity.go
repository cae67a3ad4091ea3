// Package quantity parses and prints sizes the way Kubernetes writes
// resource quantities, so that a size in tend's config means what it means
// in a pod spec: a bare number is bytes; K, M, G, T, P, E (or KB, MB, …)
// are powers of 1000; Ki, Mi, Gi, Ti, Pi, Ei (or KiB, MiB, …) are powers
// of 1024. "50MB" is 50,000,000 bytes, "50Mi" 52,428,800. Suffixes are
// case-sensitive ("k" is accepted for K, as Kubernetes does); fractions
// are allowed where the result is a whole number of bytes ("1.5Gi"); a
// decimal exponent is written as Kubernetes writes it ("1e6", "5E3": an
// E followed by digits is an exponent, a final E is exa).
package quantity

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Accepted says what a size may be; Parse's errors end with it.
const Accepted = `want bytes as a whole number or a quantity such as "512Ki", "50MB", "1.5Gi", "1e6" (K, M, G, T, P, E = powers of 1000; Ki, Mi, Gi, Ti, Pi, Ei = powers of 1024; a B may follow)`

var suffixes = []struct {
	s    string
	mult int64
}{
	{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"Pi", 1 << 50}, {"Ei", 1 << 60},
	{"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"P", 1e15}, {"E", 1e18},
}

// Parse parses a size in bytes. It refuses negative sizes, sizes that
// do not fit in an int64 and fractions of a byte.
func Parse(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty size; %s", Accepted)
	}
	num, mult := t, int64(1)
	if m, e, ok := exponent(t); ok {
		t, num = m, m
		mult = e
	}
	body := strings.TrimSuffix(t, "B")
	if mult != 1 {
		body = t // "1e3": no suffix may follow an exponent
	}
	for _, x := range suffixes {
		if mult != 1 {
			break
		}
		if strings.HasSuffix(body, x.s) {
			num, mult = strings.TrimSuffix(body, x.s), x.mult
			break
		}
	}
	if mult == 1 && body != t {
		num = body // "100B"
	}
	num = strings.TrimSpace(num)
	if num == "" || strings.HasPrefix(num, "+") || strings.HasPrefix(num, "-") {
		return 0, fmt.Errorf("invalid size %q; %s", s, Accepted)
	}
	for _, c := range num {
		if (c < '0' || c > '9') && c != '.' {
			return 0, fmt.Errorf("invalid size %q; %s", s, Accepted)
		}
	}
	if mult < 0 {
		return 0, fmt.Errorf("size %q is too large (the limit is %d bytes)", s, int64(math.MaxInt64))
	}
	n, whole, ok := scale(num, uint64(mult))
	switch {
	case !ok:
		return 0, fmt.Errorf("invalid size %q; %s", s, Accepted)
	case !whole:
		return 0, fmt.Errorf("size %q is not a whole number of bytes; %s", s, Accepted)
	case n < 0:
		return 0, fmt.Errorf("size %q is too large (the limit is %d bytes)", s, int64(math.MaxInt64))
	}
	return n, nil
}

// scale is num ("12", "1.5", ".5", "5.") times mult, exactly, in integer
// arithmetic (no math/big: every start of tend would pay for it): ok
// false for a malformed num, whole false when the product has a fraction,
// n < 0 when it passes math.MaxInt64.
func scale(num string, mult uint64) (n int64, whole, ok bool) {
	ip, frac, _ := strings.Cut(num, ".")
	if strings.Contains(frac, ".") || ip == "" && frac == "" {
		return 0, false, false
	}
	frac = strings.TrimRight(frac, "0")
	var i uint64
	if ip != "" {
		var err error
		if i, err = strconv.ParseUint(ip, 10, 64); err != nil {
			return -1, true, true // digits only (checked): too large
		}
	}
	hi, total := bits.Mul64(i, mult)
	if hi != 0 || total > math.MaxInt64 {
		return -1, true, true
	}
	if frac == "" {
		return int64(total), true, true
	}
	if len(frac) > 19 {
		return 0, false, true // mult (< 10^19, no more than 18 fives) cannot clear 20 significant decimals
	}
	f, _ := strconv.ParseUint(frac, 10, 64) // at most 19 digits: fits
	p10 := uint64(1)
	for range len(frac) {
		p10 *= 10
	}
	fh, fl := bits.Mul64(f, mult)
	q, r := bits.Div64(fh, fl, p10) // f < p10, so fh < p10: no overflow
	if r != 0 {
		return 0, false, true
	}
	if total += q; total > math.MaxInt64 {
		return -1, true, true
	}
	return int64(total), true, true
}

// exponent splits "1.5e3" into "1.5" and 10^3 (at most 10^18): an e or E
// followed by digits and nothing else ends the number.
func exponent(s string) (string, int64, bool) {
	i := strings.LastIndexAny(s, "eE")
	if i <= 0 || i == len(s)-1 {
		return "", 0, false
	}
	n, err := strconv.Atoi(s[i+1:])
	if err != nil || n < 0 || strings.ContainsAny(s[i+1:], "+-") {
		return "", 0, false
	}
	if n > 18 {
		return s[:i], -1, true // too large: refused below
	}
	m := int64(1)
	for range n {
		m *= 10
	}
	return s[:i], m, true
}

// Value parses a size from a decoded config value: a string as Parse
// reads it, or a whole non-negative number of bytes.
func Value(v any) (int64, error) {
	switch x := v.(type) {
	case string:
		return Parse(x)
	case int64:
		if x < 0 {
			return 0, fmt.Errorf("negative size %d; %s", x, Accepted)
		}
		return x, nil
	case int:
		return Value(int64(x))
	case float64:
		if x < 0 || x != math.Trunc(x) || x > math.MaxInt64 {
			return 0, fmt.Errorf("invalid size %v; %s", x, Accepted)
		}
		return int64(x), nil
	}
	return 0, fmt.Errorf("a size is a string or a number, not %T; %s", v, Accepted)
}

// Format prints n with the largest binary suffix that divides it exactly
// ("64Mi"), else the largest decimal one ("50M"), else bytes ("1000001").
// Parse(Format(n)) == n.
func Format(n int64) string {
	if n == 0 {
		return "0"
	}
	for i := 5; i >= 0; i-- {
		if x := suffixes[i]; n%x.mult == 0 {
			return strconv.FormatInt(n/x.mult, 10) + x.s
		}
	}
	for i := len(suffixes) - 1; i >= 7; i-- {
		if x := suffixes[i]; n%x.mult == 0 {
			return strconv.FormatInt(n/x.mult, 10) + x.s
		}
	}
	return strconv.FormatInt(n, 10)
}
