package app

import (
	"bytes"
	"os"
	rtmetrics "runtime/metrics"
	"runtime/pprof"
	"time"
)

// peakHeap keeps the heap profile of the moment the live heap was largest,
// for the hidden --memprofile: the peak is what sets a process's memory,
// and by the command's end most of it is garbage.
type peakHeap struct {
	stop chan struct{}
	done chan struct{}
	peak uint64
	prof bytes.Buffer
}

// watchPeakHeap starts sampling the live heap after each collection.
func watchPeakHeap() *peakHeap {
	p := &peakHeap{stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

func (p *peakHeap) run() {
	defer close(p.done)
	sample := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/cycles/total:gc-cycles"}}
	var cycles uint64
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		rtmetrics.Read(sample)
		live, n := sample[0].Value.Uint64(), sample[1].Value.Uint64()
		if n == cycles || live <= p.peak {
			continue
		}
		cycles, p.peak = n, live
		p.prof.Reset()
		// The profile is of the last collection: the one that found live.
		_ = pprof.Lookup("heap").WriteTo(&p.prof, 0)
	}
}

// write stops sampling and writes the profile of the peak to file.
func (p *peakHeap) write(file string) error {
	close(p.stop)
	<-p.done
	return os.WriteFile(file, p.prof.Bytes(), 0o600)
}
