package httpapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/inspect"
)

// inspectRoutes registers the inspection JSON API under /api and the
// inspection page under /ui/.
//
//	GET /api/status
//	GET /api/taskmanagers
//	GET /api/taskmanagers/{name}/generations?after=N&limit=N
//	GET /api/taskmanagers/{name}/products?generation=G
//	GET /api/taskmanagers/{name}/products/{key}?generation=G&columns=a,b&query=EXPR&limit=N
//	GET /api/taskmanagers/{name}/products/{key}/header?generation=G
//	GET /api/taskmanagers/{name}/products/{key}/metadata?generation=G
//	GET /api/taskmanagers/{name}/products/{key}/history?since=T&until=T&limit=N
//	GET /api/taskmanagers/{name}/diff?from=G1&to=G2
func (s *Server) inspectRoutes() {
	s.mux.HandleFunc("GET /api/status", s.apiStatus)
	s.mux.HandleFunc("GET /api/taskmanagers", s.apiTaskManagers)
	s.mux.HandleFunc("GET /api/taskmanagers/{name}/generations", s.apiGenerations)
	s.mux.HandleFunc("GET /api/taskmanagers/{name}/products", s.apiProducts)
	s.mux.HandleFunc("GET /api/taskmanagers/{name}/products/{key}", s.apiProduct)
	s.mux.HandleFunc("GET /api/taskmanagers/{name}/products/{key}/header", s.apiHeader)
	s.mux.HandleFunc("GET /api/taskmanagers/{name}/products/{key}/metadata", s.apiMetadata)
	s.mux.HandleFunc("GET /api/taskmanagers/{name}/products/{key}/history", s.apiHistory)
	s.mux.HandleFunc("GET /api/taskmanagers/{name}/diff", s.apiDiff)
	s.pageRoutes()
}

func (s *Server) inspector() *inspect.Inspector {
	return inspect.New(s.space.DataSource(), &inspect.Options{Clock: s.cfg.Clock})
}

// errBadParam is wrapped when a query parameter does not parse.
var errBadParam = errors.New("bad parameter")

// inspectStatus maps an inspect error to an HTTP status.
func inspectStatus(err error) int {
	switch {
	case errors.Is(err, inspect.ErrTaskManagerNotFound), errors.Is(err, inspect.ErrGenerationNotFound), errors.Is(err, inspect.ErrProductNotFound):
		return http.StatusNotFound
	case errors.Is(err, inspect.ErrQuery), errors.Is(err, inspect.ErrInvalid), errors.Is(err, errBadParam):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// apiError writes {"error": "..."} with the status the error maps to.
func (s *Server) apiError(w http.ResponseWriter, r *http.Request, err error) {
	code := inspectStatus(err)
	if code == http.StatusInternalServerError {
		s.log.Error("inspect request failed", "path", r.URL.Path, "error", err)
	}
	writeJSON(w, code, map[string]any{"error": err.Error()})
}

// intParam reads an optional integer query parameter (zero when absent).
func intParam(r *http.Request, name string) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w %s=%q: want a whole number from 0", errBadParam, name, v)
	}
	return n, nil
}

// timeParam reads an optional time query parameter as `strata inspect
// history` reads --since/--until: an RFC 3339 time, a date, or a duration
// ago ("36h", "7d") on the server's clock.
func (s *Server) timeParam(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	t, err := dataspace.ParseTimeOrAgo(v, s.cfg.Clock())
	if err != nil {
		return time.Time{}, fmt.Errorf("%w %s=%q: %v", errBadParam, name, v, err)
	}
	return t, nil
}

// stream writes a JSON document piece by piece. Nothing reaches the client
// until its buffer fills, so an error in the first rows still becomes a
// proper error response; a later error ends the document with an "error"
// member.
type stream struct {
	w         http.ResponseWriter
	buf       bytes.Buffer
	bw        *bufio.Writer
	committed bool
}

const streamBuffer = 64 << 10

func newStream(w http.ResponseWriter) *stream { return &stream{w: w} }

func (st *stream) out() interface {
	Write([]byte) (int, error)
	WriteString(string) (int, error)
} {
	if st.committed {
		return st.bw
	}
	return &st.buf
}

// raw writes s as is.
func (st *stream) raw(s string) {
	_, _ = st.out().WriteString(s)
	st.maybeCommit()
}

// value writes v as JSON.
func (st *stream) value(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, _ = st.out().Write(b)
	st.maybeCommit()
	return nil
}

func (st *stream) maybeCommit() {
	if st.committed || st.buf.Len() < streamBuffer {
		return
	}
	st.w.Header().Set("Content-Type", "application/json")
	st.w.WriteHeader(http.StatusOK)
	st.bw = bufio.NewWriterSize(st.w, streamBuffer)
	_, _ = st.bw.Write(st.buf.Bytes())
	st.buf = bytes.Buffer{}
	st.committed = true
}

// finish sends the document, or the error response when err is set and
// nothing was sent yet. closing ends the document after an error that
// came once it was committed.
func (s *Server) finish(st *stream, r *http.Request, err error, closing string) {
	if err != nil && !st.committed {
		s.apiError(st.w, r, err)
		return
	}
	if err != nil {
		s.log.Error("inspect response cut short", "path", r.URL.Path, "error", err)
		msg, _ := json.Marshal(err.Error())
		_, _ = st.bw.WriteString(closing + `,"error":` + string(msg) + "}\n")
		_ = st.bw.Flush()
		return
	}
	if !st.committed {
		st.w.Header().Set("Content-Type", "application/json")
		st.w.WriteHeader(http.StatusOK)
		_, _ = st.w.Write(st.buf.Bytes())
		return
	}
	_ = st.bw.Flush()
}

func (s *Server) apiStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.inspector().Status(r.Context())
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) apiTaskManagers(w http.ResponseWriter, r *http.Request) {
	tms, err := s.inspector().TaskManagers(r.Context())
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tms)
}

func (s *Server) apiGenerations(w http.ResponseWriter, r *http.Request) {
	after, err := intParam(r, "after")
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	limit, err := intParam(r, "limit")
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	st := newStream(w)
	st.raw("[")
	n := 0
	err = s.inspector().Generations(r.Context(), &inspect.GenerationsParams{Name: r.PathValue("name"), After: after, Limit: int(limit)},
		func(g *inspect.Generation) error {
			if n > 0 {
				st.raw(",")
			}
			n++
			return st.value(g)
		})
	if err == nil {
		st.raw("]\n")
	}
	s.finish(st, r, err, `]`)
}

func (s *Server) apiProducts(w http.ResponseWriter, r *http.Request) {
	gen, err := intParam(r, "generation")
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	b, ps, err := s.inspector().Products(r.Context(), r.PathValue("name"), gen)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"block": b, "products": ps})
}

// productParams reads the parameters of a product request.
func productParams(r *http.Request) (*inspect.ProductParams, int64, error) {
	gen, err := intParam(r, "generation")
	if err != nil {
		return nil, 0, err
	}
	limit, err := intParam(r, "limit")
	if err != nil {
		return nil, 0, err
	}
	p := &inspect.ProductParams{Name: r.PathValue("name"), Key: r.PathValue("key"), Generation: gen, Query: r.URL.Query().Get("query")}
	if c := r.URL.Query().Get("columns"); c != "" {
		p.Columns = strings.Split(c, ",")
	}
	return p, limit, nil
}

// apiProduct streams a product: {"block", "product", "tabular", "columns",
// "types", "rows": [{…}, …]} for a tabular value, {…, "value": …} otherwise.
func (s *Server) apiProduct(w http.ResponseWriter, r *http.Request) {
	p, limit, err := productParams(r)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	v, err := s.inspector().Product(r.Context(), p)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	if !v.Tabular {
		writeJSON(w, http.StatusOK, v)
		return
	}
	head, err := json.Marshal(v)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	st := newStream(w)
	st.raw(string(head[:len(head)-1]) + `,"rows":[`)
	n := int64(0)
	errLimit := errors.New("limit reached")
	keys := make([][]byte, len(v.Columns))
	for i, c := range v.Columns {
		keys[i], _ = json.Marshal(c)
	}
	ctx := r.Context()
	err = v.Rows(func(row []any) error {
		if limit > 0 && n == limit {
			return errLimit
		}
		if err := ctx.Err(); err != nil {
			return err // the client went away: stop reading the value
		}
		if n > 0 {
			st.raw(",")
		}
		n++
		st.raw("{")
		for i, x := range row {
			if i > 0 {
				st.raw(",")
			}
			st.raw(string(keys[i]) + ":")
			if err := st.value(x); err != nil {
				return err
			}
		}
		st.raw("}")
		return nil
	})
	truncated := errors.Is(err, errLimit)
	if truncated {
		err = nil
	}
	if err == nil {
		st.raw(fmt.Sprintf(`],"truncated":%t}`+"\n", truncated))
	}
	s.finish(st, r, err, `]`)
}

func (s *Server) apiHeader(w http.ResponseWriter, r *http.Request) {
	gen, err := intParam(r, "generation")
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	b, h, err := s.inspector().Header(r.Context(), r.PathValue("name"), r.PathValue("key"), gen)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"block": b, "key": r.PathValue("key"), "header": h})
}

func (s *Server) apiMetadata(w http.ResponseWriter, r *http.Request) {
	gen, err := intParam(r, "generation")
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	b, m, err := s.inspector().Metadata(r.Context(), r.PathValue("name"), r.PathValue("key"), gen)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"block": b, "key": r.PathValue("key"), "metadata": m})
}

func (s *Server) apiHistory(w http.ResponseWriter, r *http.Request) {
	p := &inspect.HistoryParams{Name: r.PathValue("name"), Key: r.PathValue("key")}
	var err error
	var limit int64
	if p.Since, err = s.timeParam(r, "since"); err == nil {
		if p.Until, err = s.timeParam(r, "until"); err == nil {
			limit, err = intParam(r, "limit")
		}
	}
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	p.Limit = int(limit)
	vs, err := s.inspector().History(r.Context(), p)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"taskmanager": p.Name, "key": p.Key, "versions": vs})
}

// apiDiff streams {"changes": [...], "from": block, "to": block}.
func (s *Server) apiDiff(w http.ResponseWriter, r *http.Request) {
	from, err := intParam(r, "from")
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	to, err := intParam(r, "to")
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	// The blocks are known once Diff returns: they follow the changes.
	st := newStream(w)
	n := 0
	ctx := r.Context()
	fb, tb, err := s.inspector().Diff(ctx, &inspect.DiffParams{Name: r.PathValue("name"), From: from, To: to}, func(c *inspect.Change) error {
		if err := ctx.Err(); err != nil {
			return err // the client went away
		}
		if n == 0 {
			st.raw(`{"changes":[`)
		} else {
			st.raw(",")
		}
		n++
		return st.value(c)
	})
	if err == nil {
		if n == 0 {
			st.raw(`{"changes":[`)
		}
		fj, _ := json.Marshal(fb)
		tj, _ := json.Marshal(tb)
		st.raw(`],"from":` + string(fj) + `,"to":` + string(tj) + "}\n")
	}
	s.finish(st, r, err, `]`)
}
