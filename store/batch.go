package store

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"time"

	"pinset.dev/pinset/report"
)

// Reports are written by group commit: one goroutine takes every report
// waiting in the queue, inserts them in one transaction and answers each
// caller only after that transaction committed. Durability is the same as
// one transaction per report (nothing is acknowledged before its commit),
// but a burst costs one fsync instead of one per report.

// maxBatch bounds the reports of one transaction.
const maxBatch = 256

// ErrClosed is returned for writes to a closed store.
var ErrClosed = errors.New("store closed")

type addReq struct {
	r    *report.Report
	raw  []byte
	prep *preparedReport // nil until prepared (addReq.prepared)
	now  time.Time
	res  chan addRes
}

type addRes struct {
	id    int64
	dup   bool
	count int64 // the stored report's arrivals after this batch (0 if not stored)
	// sampled is when the report's latest sample was written (Unix
	// seconds, 0: never), as read when counting the batch's arrivals.
	sampled int64
	err     error
	drops   map[string]int64 // counted once the transaction committed
}

type batcher struct {
	db     backend
	limits ReportLimits
	drops  *drops
	known  *known
	queue  chan *addReq
	quit   chan struct{}
	done   chan struct{}
	once   sync.Once
	// lastPrune is when the run goroutine last pruned (report time).
	lastPrune time.Time
}

// pruneEvery is how often, by the reports' own clock, report transactions
// also delete what is past its retention.
const pruneEvery = time.Minute

func newBatcher(db backend, limits ReportLimits, d *drops, k *known) *batcher {
	b := &batcher{db: db, limits: limits, drops: d, known: k, queue: make(chan *addReq, 4*maxBatch), quit: make(chan struct{}), done: make(chan struct{})}
	go b.run()
	return b
}

func (b *batcher) add(ctx context.Context, req *addReq) (int64, bool, error) {
	// select picks at random among ready cases, so a closed batcher must be
	// seen before offering to the (buffered, hence ready) queue.
	select {
	case <-b.quit:
		return 0, false, ErrClosed
	default:
	}
	select {
	case b.queue <- req:
	case <-b.quit:
		return 0, false, ErrClosed
	case <-ctx.Done():
		return 0, false, ctx.Err()
	}
	select {
	case res := <-req.res:
		return res.id, res.dup, res.err
	case <-b.done:
		// Closed after the request was queued: run answered it while
		// draining, or had already stopped and never will.
		select {
		case res := <-req.res:
			return res.id, res.dup, res.err
		default:
			return 0, false, ErrClosed
		}
	case <-ctx.Done():
		// The report may still be committed; a retry is deduplicated.
		return 0, false, ctx.Err()
	}
}

func (b *batcher) close() {
	b.once.Do(func() { close(b.quit) })
	<-b.done
}

func (b *batcher) run() {
	defer close(b.done)
	for {
		var first *addReq
		select {
		case first = <-b.queue:
		case <-b.quit:
			// Answer what is still queued, then stop.
			for {
				select {
				case q := <-b.queue:
					b.commit([]*addReq{q})
				default:
					return
				}
			}
		}
		batch := []*addReq{first}
	drain:
		for len(batch) < maxBatch {
			select {
			case q := <-b.queue:
				batch = append(batch, q)
			default:
				break drain
			}
		}
		b.commit(batch)
	}
}

// commit writes a batch in one transaction; if it fails, each report is
// retried in its own transaction so that one bad report fails alone.
func (b *batcher) commit(batch []*addReq) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	results := make([]addRes, 0, len(batch))
	order := make([]*addReq, 0, len(batch)) // batch in the order of results
	var now time.Time
	for _, q := range batch {
		if q.now.After(now) {
			now = q.now
		}
	}
	pruned := int64(0)
	doPrune := now.Sub(b.lastPrune) >= pruneEvery
	err := b.db.inTx(ctx, func(c conn) error {
		pruned, results, order = 0, results[:0], order[:0]
		if doPrune {
			n, err := prune(ctx, c, now, b.limits)
			if err != nil {
				return err
			}
			pruned = n
		}
		groups := groupByKey(batch)
		found, err := countAndBump(ctx, c, batch, groups)
		if err != nil {
			return err
		}
		for i, g := range groups {
			res, err := storeGroup(ctx, c, g, found[i], b.limits)
			if err != nil {
				return err
			}
			results = append(results, res...)
			order = append(order, g...)
			// A batch runs for milliseconds on one core: let waiting
			// goroutines (the service's document GETs) run between its
			// statements rather than at the runtime's 10ms preemption
			// (a repeat bumped without a sample ran none here).
			if !found[i].ok || found[i].before < SampleFirst || i%16 == 15 {
				runtime.Gosched()
			}
		}
		return nil
	})
	if err != nil && len(batch) > 1 {
		for _, q := range batch {
			b.commit([]*addReq{q})
		}
		return
	}
	if err == nil {
		if doPrune {
			b.lastPrune = now
			b.drops.add(map[string]int64{DropRetention: pruned})
		}
		for i, r := range results {
			b.drops.add(r.drops)
			if r.count > 0 {
				b.known.set(order[i].r.DedupKey, r.count)
			}
		}
	} else {
		order = batch
		results = make([]addRes, len(batch))
		for i := range results {
			results[i] = addRes{err: err}
		}
	}
	for i, q := range order {
		q.res <- results[i]
	}
}
