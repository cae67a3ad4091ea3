package logs

import "time"

// entry describes one line kept in a ring; its text is data[off:off+n].
// It holds no pointer (the time is in Unix nanoseconds) and takes 32
// bytes: the garbage collector never scans a ring's entries.
type entry struct {
	t      int64 // time.Time.UnixNano
	seq    uint64
	off, n int32
	stream Stream
	cont   bool
}

// minArena is the arena size below which a ring is not compacted early.
const minArena = 64 << 10

// ring keeps the most recent lines of a service: at most maxLines lines
// and maxBytes bytes of text. The texts are stored in order in one arena,
// data, which is compacted when appending would take it beyond twice the
// text kept (at least minArena, at most 2*maxBytes): the part of the arena
// in use stays small (cache-friendly) when the lines kept are few, and
// each compaction copies at most half of what was appended since the last;
// the text of the kept lines is always data[ents[head].off:].
type ring struct {
	ents     []entry // circular, allocated on first use
	head, n  int
	data     []byte
	maxLines int
	maxBytes int
}

// add keeps a copy of text, evicting the oldest lines as needed.
func (r *ring) add(e entry, text []byte) {
	if r.maxLines <= 0 {
		return
	}
	if r.ents == nil {
		r.ents = make([]entry, r.maxLines)
	}
	if len(text) > r.maxBytes {
		text = text[:r.maxBytes]
	}
	if r.n == len(r.ents) {
		r.drop()
	}
	for r.n > 0 && len(r.data)-int(r.ents[r.head].off)+len(text) > r.maxBytes {
		r.drop()
	}
	if r.n == 0 {
		r.data = r.data[:0]
	} else if n := len(r.data) + len(text); n > 2*r.maxBytes ||
		n > minArena && n > 2*(len(r.data)-int(r.ents[r.head].off)+len(text)) {
		first := r.ents[r.head].off
		r.data = r.data[:copy(r.data, r.data[first:])]
		for i := range r.ents {
			r.ents[i].off -= first // the free slots' offsets do not matter
		}
	}
	e.off, e.n = int32(len(r.data)), int32(len(text))
	r.data = append(r.data, text...)
	i := r.head + r.n
	if i >= len(r.ents) {
		i -= len(r.ents)
	}
	r.ents[i] = e
	r.n++
}

// kept returns the index of the first of refs that would still be in the
// ring once all of them were added: the ring keeps the longest run of
// newest lines within both bounds (adding a line evicts from the oldest
// until it fits), so the lines before that index need not be added. When
// it is not 0, every line the ring holds now would be evicted too: kept
// empties the ring.
func (r *ring) kept(refs []lineRef) int {
	first := r.survivors(refs)
	if first > 0 {
		r.head, r.n = 0, 0
	}
	return first
}

func (r *ring) survivors(refs []lineRef) int {
	if r.maxLines <= 0 {
		return len(refs)
	}
	size := 0
	for i := len(refs) - 1; i >= 0; i-- {
		size += min(int(refs[i].n), r.maxBytes)
		if len(refs)-i > r.maxLines || size > r.maxBytes {
			return i + 1
		}
	}
	return 0
}

// drop evicts the oldest line.
func (r *ring) drop() {
	if r.head++; r.head == len(r.ents) {
		r.head = 0
	}
	r.n--
}

// tail returns copies of the last n lines (all when n < 0), oldest first.
func (r *ring) tail(service string, n int) []Line {
	if n < 0 || n > r.n {
		n = r.n
	}
	if n == 0 {
		return nil
	}
	first := r.head + r.n - n
	size := 0
	for i := range n {
		size += int(r.ents[(first+i)%len(r.ents)].n)
	}
	text := make([]byte, 0, size)
	out := make([]Line, n)
	for i := range out {
		e := &r.ents[(first+i)%len(r.ents)]
		off := len(text)
		text = append(text, r.data[e.off:e.off+e.n]...)
		out[i] = Line{Time: time.Unix(0, e.t), Service: service, Stream: e.stream, Seq: e.seq, Cont: e.cont, Text: text[off:len(text):len(text)]}
	}
	return out
}
