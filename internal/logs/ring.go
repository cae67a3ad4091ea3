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
// and maxBytes bytes of text (bytes counts the text kept). The texts are
// stored in order in one arena, data; a run of lines added together
// (addRun) is copied as one piece, with the line ends between the texts,
// so the arena in use, data[ents[head].off:], may exceed bytes by up to two
// bytes a line. It is compacted when appending would take it beyond twice
// what is in use (at least minArena, and always beyond 2*maxBytes): it
// stays small (cache-friendly) when the lines kept are few, and each
// compaction copies at most half of what was appended since the last.
type ring struct {
	ents     []entry // circular, allocated on first use
	head, n  int
	bytes    int // text bytes of the lines kept
	data     []byte
	maxLines int
	maxBytes int
}

// add keeps a copy of text, evicting the oldest lines as needed.
func (r *ring) add(e entry, text []byte) {
	if r.maxLines <= 0 {
		return
	}
	if len(text) > r.maxBytes {
		text = text[:r.maxBytes]
	}
	r.evict(1, len(text))
	r.room(len(text))
	e.off, e.n = int32(len(r.data)), int32(len(text))
	r.data = append(r.data, text...)
	r.push(e)
}

// addRun keeps the lines refs of buf (in buf's order, none longer than
// maxBytes), with sequence numbers from e.seq+1 and e's time and stream,
// copying them as one piece. Adding lines one by one would keep the same.
func (r *ring) addRun(e entry, buf []byte, refs []lineRef) {
	if r.maxLines <= 0 || len(refs) == 0 {
		return
	}
	size := 0
	for _, ref := range refs {
		size += int(ref.n)
	}
	r.evict(len(refs), size)
	lo, hi := int(refs[0].off), int(refs[len(refs)-1].off+refs[len(refs)-1].n)
	r.room(hi - lo)
	base := len(r.data) - lo
	r.data = append(r.data, buf[lo:hi]...)
	for _, ref := range refs {
		e.seq++
		e.off, e.n, e.cont = int32(base+int(ref.off)), ref.n, ref.cont
		r.push(e)
	}
}

// evict drops the oldest lines until lines more lines of size bytes in
// all fit.
func (r *ring) evict(lines, size int) {
	if r.ents == nil {
		r.ents = make([]entry, r.maxLines)
	}
	for r.n > 0 && (r.n+lines > len(r.ents) || r.bytes+size > r.maxBytes) {
		r.drop()
	}
}

// room prepares the arena for n more bytes: emptied when no line is kept,
// compacted when it would grow beyond twice what is in use.
func (r *ring) room(n int) {
	if r.n == 0 {
		r.data = r.data[:0]
		return
	}
	first := int(r.ents[r.head].off)
	if want := len(r.data) + n; want > 2*r.maxBytes || want > minArena && want > 2*(len(r.data)-first+n) {
		r.data = r.data[:copy(r.data, r.data[first:])]
		for i := range r.ents {
			r.ents[i].off -= int32(first) // the free slots' offsets do not matter
		}
	}
}

// push appends e as the newest line; there is room.
func (r *ring) push(e entry) {
	i := r.head + r.n
	if i >= len(r.ents) {
		i -= len(r.ents)
	}
	r.ents[i] = e
	r.n++
	r.bytes += int(e.n)
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
		r.head, r.n, r.bytes = 0, 0, 0
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
	r.bytes -= int(r.ents[r.head].n)
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
