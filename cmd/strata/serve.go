package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-dataspace/strata/httpapi"
)

func newServeCmd(g *globals) *cobra.Command {
	var (
		addr  string
		token string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the JSON API, the event API and the inspection page over HTTP",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := g.openDataSpace(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listen on %s: %w (is another server running? pick another --addr)", addr, err)
			}
			fmt.Fprintf(g.stderr, "strata serve: listening on http://%s (%s)\n", ln.Addr(), s.Backend())
			return serveHTTP(cmd.Context(), ln, httpapi.New(s, &httpapi.Config{Token: token}))
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8977", "address to listen on")
	cmd.Flags().StringVar(&token, "token", "", "require this X-Auth-Token on the event API (default: no authentication)")
	return cmd
}

// serveHTTP serves h on ln until ctx ends, then shuts down gracefully.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down http server: %w", err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
