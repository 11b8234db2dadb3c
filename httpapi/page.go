package httpapi

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/strata-dataspace/strata/inspect"
	"github.com/strata-dataspace/strata/internal/output"
)

//go:embed web/templates/*.html web/assets/*
var webFS embed.FS

// Limits of what one page shows; the CLI and the JSON API show everything.
const (
	pageGenerations = 100
	pageRows        = 1000
	pageChanges     = 2000
)

var pageFuncs = template.FuncMap{
	"fmtTime": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"age": func(now, t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return now.Sub(t).Truncate(time.Second).String()
	},
	"indentJSON": func(raw json.RawMessage) string {
		var buf bytes.Buffer
		if json.Indent(&buf, raw, "", "  ") != nil {
			return string(raw)
		}
		return buf.String()
	},
	"bar": func(n, max int64) int64 {
		if max <= 0 {
			return 0
		}
		return n * 100 / max
	},
	// path escapes a task manager name or a product key for a link, so
	// that "/", "?", "#" or a space in it stay part of the path.
	"path":  url.PathEscape,
	"sub":   func(a, b int64) int64 { return a - b },
	"deref": func(p *int64) int64 { return *p },
	"changeClass": func(c string) string {
		switch c {
		case inspect.ChangeRowAdded, inspect.ChangeValueNew:
			return "row-added"
		case inspect.ChangeRowRemoved, inspect.ChangeValueOld:
			return "row-removed"
		}
		return c
	},
}

// pages holds one template set per page, each the base layout plus the
// page's "content".
var pages = func() map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, name := range []string{"home", "taskmanager", "generation", "product", "diff", "error"} {
		out[name] = template.Must(template.New(name).Funcs(pageFuncs).ParseFS(webFS, "web/templates/base.html", "web/templates/"+name+".html"))
	}
	return out
}()

// crumb is one link of the page's breadcrumb.
type crumb struct {
	Name string
	URL  string
}

// pageData is what every page template gets.
type pageData struct {
	Title   string
	Crumbs  []crumb
	Backend string
	Version string
	Data    any
}

func (s *Server) pageRoutes() {
	// The home page is /ui/; GET / is the event API's version document,
	// which hands browsers (Accept: text/html) to pageHome.
	s.mux.HandleFunc("GET /ui/{$}", s.pageHome)
	s.mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusFound))
	s.mux.HandleFunc("GET /ui/tm/{name}", s.pageTaskManager)
	s.mux.HandleFunc("GET /ui/tm/{name}/g/{gen}", s.pageGeneration)
	s.mux.HandleFunc("GET /ui/tm/{name}/g/{gen}/p/{key}", s.pageProduct)
	s.mux.HandleFunc("GET /ui/tm/{name}/diff", s.pageDiff)
	assets, _ := fs.Sub(webFS, "web/assets")
	s.mux.Handle("GET /ui/assets/", http.StripPrefix("/ui/assets/", http.FileServerFS(assets)))
}

func tmURL(name string) string { return "/ui/tm/" + url.PathEscape(name) }

// render executes a page into a buffer first, so a template error becomes
// a 500 instead of half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, page string, d *pageData) {
	d.Backend, d.Version = s.space.Backend(), Version
	var buf bytes.Buffer
	if err := pages[page].ExecuteTemplate(&buf, "base", d); err != nil {
		s.log.Error("render page", "page", page, "path", r.URL.Path, "error", err)
		http.Error(w, "render page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// pageError shows an error page with the status the error maps to.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, err error, crumbs ...crumb) {
	code := inspectStatus(err)
	if code == http.StatusInternalServerError {
		s.log.Error("inspection page failed", "path", r.URL.Path, "error", err)
	}
	s.render(w, r, code, "error", &pageData{Title: http.StatusText(code), Crumbs: crumbs, Data: err.Error()})
}

// genParam reads the {gen} path value.
func genParam(r *http.Request) (int64, error) {
	g, err := strconv.ParseInt(r.PathValue("gen"), 10, 64)
	if err != nil || g <= 0 {
		return 0, fmt.Errorf("%w: generation %q: want a whole number from 1", errBadParam, r.PathValue("gen"))
	}
	return g, nil
}

func (s *Server) pageHome(w http.ResponseWriter, r *http.Request) {
	st, err := s.inspector().Status(r.Context())
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "home", &pageData{Title: "Overview", Data: st})
}

func (s *Server) pageTaskManager(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	crumbs := []crumb{{name, tmURL(name)}}
	in := s.inspector()
	tm, err := in.TaskManagerNamed(r.Context(), name)
	if err != nil {
		s.pageError(w, r, err, crumbs...)
		return
	}
	if tm == nil {
		s.pageError(w, r, fmt.Errorf("%w %q (see the list of task managers)", inspect.ErrTaskManagerNotFound, name), crumbs...)
		return
	}
	upto, err := intParam(r, "upto")
	if err != nil {
		s.pageError(w, r, err, crumbs...)
		return
	}
	if upto == 0 || upto > tm.LastGeneration {
		upto = tm.LastGeneration
	}
	after := max(upto-pageGenerations, 0)
	var gens []*inspect.Generation
	var maxBytes int64
	err = in.Generations(r.Context(), &inspect.GenerationsParams{Name: name, After: after, Limit: int(upto - after)}, func(g *inspect.Generation) error {
		gens = append(gens, g)
		maxBytes = max(maxBytes, g.Bytes)
		return nil
	})
	if err != nil {
		s.pageError(w, r, err, crumbs...)
		return
	}
	for i, j := 0, len(gens)-1; i < j; i, j = i+1, j-1 {
		gens[i], gens[j] = gens[j], gens[i]
	}
	d := map[string]any{
		"TM": tm, "Generations": gens, "MaxBytes": maxBytes, "Older": after,
		"DiffFrom": max(tm.LastGeneration-1, 1), "DiffTo": tm.LastGeneration,
	}
	s.render(w, r, http.StatusOK, "taskmanager", &pageData{Title: "Task manager " + name, Crumbs: crumbs, Data: d})
}

func (s *Server) pageGeneration(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	crumbs := []crumb{{name, tmURL(name)}}
	gen, err := genParam(r)
	if err != nil {
		s.pageError(w, r, err, crumbs...)
		return
	}
	crumbs = append(crumbs, crumb{fmt.Sprintf("generation %d", gen), fmt.Sprintf("%s/g/%d", tmURL(name), gen)})
	in := s.inspector()
	b, ps, err := in.Products(r.Context(), name, gen)
	if err != nil {
		s.pageError(w, r, err, crumbs...)
		return
	}
	// What the channel decided and why: the logic engine's facts and the
	// publishers' status, when the generation has them.
	decided := []map[string]any{}
	for _, p := range ps {
		if (p.Key != "facts" && p.Key != "publishers") || p.Tabular || p.RawSize > 64<<10 {
			continue
		}
		v, err := in.Product(r.Context(), &inspect.ProductParams{Name: name, Key: p.Key, Generation: gen})
		if err != nil {
			s.pageError(w, r, err, crumbs...)
			return
		}
		decided = append(decided, map[string]any{"Key": p.Key, "JSON": v.JSON})
	}
	s.render(w, r, http.StatusOK, "generation", &pageData{
		Title: fmt.Sprintf("%s · generation %d", name, gen), Crumbs: crumbs,
		Data: map[string]any{"Block": b, "Products": ps, "Decided": decided},
	})
}

func (s *Server) pageProduct(w http.ResponseWriter, r *http.Request) {
	name, key := r.PathValue("name"), r.PathValue("key")
	crumbs := []crumb{{name, tmURL(name)}}
	gen, err := genParam(r)
	if err != nil {
		s.pageError(w, r, err, crumbs...)
		return
	}
	crumbs = append(crumbs,
		crumb{fmt.Sprintf("generation %d", gen), fmt.Sprintf("%s/g/%d", tmURL(name), gen)},
		crumb{key, fmt.Sprintf("%s/g/%d/p/%s", tmURL(name), gen, url.PathEscape(key))})
	query := r.URL.Query().Get("query")
	in := s.inspector()
	v, err := in.Product(r.Context(), &inspect.ProductParams{Name: name, Key: key, Generation: gen, Query: query})
	var queryErr string
	if errors.Is(err, inspect.ErrQuery) {
		// Show the product unfiltered with the error above it.
		queryErr = err.Error()
		v, err = in.Product(r.Context(), &inspect.ProductParams{Name: name, Key: key, Generation: gen})
	}
	if err != nil {
		s.pageError(w, r, err, crumbs...)
		return
	}
	var rows [][]string
	truncated := false
	if v.Tabular {
		errFull := errors.New("page full")
		err = v.Rows(func(row []any) error {
			if len(rows) == pageRows {
				truncated = true
				return errFull
			}
			cells := make([]string, len(row))
			for i, x := range row {
				cells[i] = output.Cell(x)
			}
			rows = append(rows, cells)
			return nil
		})
		if errors.Is(err, inspect.ErrQuery) {
			queryErr, rows = err.Error(), nil
		} else if err != nil && !errors.Is(err, errFull) {
			s.pageError(w, r, err, crumbs...)
			return
		}
	}
	s.render(w, r, http.StatusOK, "product", &pageData{
		Title: fmt.Sprintf("%s · generation %d · %s", name, v.Block.Generation, key), Crumbs: crumbs,
		Data: map[string]any{"Value": v, "Rows": rows, "Truncated": truncated, "Query": query, "Error": queryErr},
	})
}

func (s *Server) pageDiff(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	crumbs := []crumb{{name, tmURL(name)}}
	from, err := intParam(r, "from")
	if err != nil {
		s.pageError(w, r, err, crumbs...)
		return
	}
	to, err := intParam(r, "to")
	if err != nil {
		s.pageError(w, r, err, crumbs...)
		return
	}
	crumbs = append(crumbs, crumb{fmt.Sprintf("diff %d → %d", from, to), fmt.Sprintf("%s/diff?from=%d&to=%d", tmURL(name), from, to)})
	var changes []*inspect.Change
	errFull := errors.New("page full")
	truncated := false
	fb, tb, err := s.inspector().Diff(r.Context(), &inspect.DiffParams{Name: name, From: from, To: to}, func(c *inspect.Change) error {
		if len(changes) == pageChanges {
			truncated = true
			return errFull
		}
		changes = append(changes, c)
		return nil
	})
	if errors.Is(err, errFull) {
		err = nil
	}
	if err != nil {
		s.pageError(w, r, err, crumbs...)
		return
	}
	s.render(w, r, http.StatusOK, "diff", &pageData{
		Title: fmt.Sprintf("%s · diff of generations %d and %d", name, from, to), Crumbs: crumbs,
		Data: map[string]any{"From": fb, "To": tb, "Changes": changes, "Truncated": truncated},
	})
}
