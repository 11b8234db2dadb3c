package postgres

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/lib/pq"

	"github.com/strata-dataspace/strata/datasource"
)

// NoticeState says what a Notice reports.
type NoticeState int

// The notices of Watch.
const (
	// NoticePayload is a NOTIFY on the watched channel; Notice.Payload
	// holds its payload.
	NoticePayload NoticeState = iota
	// NoticeListening says the LISTEN is in place: every NOTIFY committed
	// from now on is delivered, until a NoticeLost.
	NoticeListening
	// NoticeLost says the watch's connection dropped (it is opened again
	// in the background) or the DataSource closed: notifications may be
	// missed until the next NoticeListening.
	NoticeLost
)

// Notice is one report of Watch.
type Notice struct {
	State   NoticeState
	Payload string
}

// ErrNoWatch is returned by Watch on a DataSource built by New over a
// caller's pool: a watch opens a connection of its own, and only Open
// knows how.
var ErrNoWatch = errors.New("postgres: watch needs a DataSource built by Open")

// Watch listens on a notification channel (LISTEN/NOTIFY) over a
// connection of its own, opened again after a loss until Close, and calls
// fn with each notice: NoticeListening once the LISTEN is in place (again
// after each reconnection), NoticeLost when the connection drops and at
// Close, and NoticePayload for each notification. Calls to fn never
// overlap and must not block. A notification received just before a loss
// may be reported after the NoticeLost.
//
// So a cache of database state stays exact while it keeps entries only
// between a NoticeListening and the next NoticeLost, drops them on every
// notice, and has every change to that state NOTIFY the channel in the
// changing transaction.
func (s *DataSource) Watch(channel string, fn func(Notice)) error {
	if s.dsn == "" {
		return ErrNoWatch
	}
	w := &watch{fn: fn, log: s.log.With("channel", channel)}
	w.l = pq.NewListener(s.dsn, 100*time.Millisecond, 10*time.Second, w.event)
	s.watchMu.Lock()
	if s.closed.Load() {
		s.watchMu.Unlock()
		w.l.Close()
		return fmt.Errorf("watch %q: %w", channel, datasource.ErrClosed)
	}
	s.watches = append(s.watches, w)
	s.watchMu.Unlock()
	go func() {
		// Listen waits for a connection; it fails only at Close or when
		// the server refuses the channel name.
		err := w.l.Listen(channel)
		w.mu.Lock()
		defer w.mu.Unlock()
		if err != nil {
			if !s.closed.Load() {
				w.log.Error("listen failed; notices stop", "error", err)
			}
			return
		}
		w.listening = true
		if w.connected {
			w.fn(Notice{State: NoticeListening})
		}
	}()
	go func() {
		for n := range w.l.Notify {
			// A nil follows each reconnection, reported by event.
			if n != nil {
				w.report(Notice{State: NoticePayload, Payload: n.Extra})
			}
		}
		w.report(Notice{State: NoticeLost})
	}()
	return nil
}

// watch is one Watch: pq's listener and what fn has been told.
type watch struct {
	l   *pq.Listener
	log hclog.Logger

	mu        sync.Mutex
	fn        func(Notice)
	connected bool // the listener has a connection (as of its last event)
	listening bool // Listen returned: the channel is part of every connection
}

func (w *watch) report(n Notice) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fn(n)
}

// event follows the listener's connection. pq calls it after a
// (re)connection has issued the LISTENs of every channel added so far.
func (w *watch) event(ev pq.ListenerEventType, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch ev {
	case pq.ListenerEventConnected, pq.ListenerEventReconnected:
		w.connected = true
		if w.listening {
			w.fn(Notice{State: NoticeListening})
		}
	case pq.ListenerEventDisconnected:
		w.connected = false
		w.fn(Notice{State: NoticeLost})
		w.log.Warn("notification connection lost; reconnecting", "error", err)
	case pq.ListenerEventConnectionAttemptFailed:
		w.log.Warn("notification connection failed; retrying", "error", err)
	}
}

// closeWatches marks the DataSource closed, so that no watch starts, and
// stops every watch (at Close).
func (s *DataSource) closeWatches() {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	s.closed.Store(true)
	for _, w := range s.watches {
		_ = w.l.Close()
	}
	s.watches = nil
}
