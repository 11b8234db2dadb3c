package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/internal/output"
)

func newDBCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "db", Short: "Maintain the database: migrate, status"}
	cmd.AddCommand(&cobra.Command{
		Use:   "migrate",
		Short: "Apply the schema migrations (idempotent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := g.openDataSpace(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			v, err := s.DataSource().SchemaVersion(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%s: schema at version %d\n", dataspace.Redact(s.Config().URL), v)
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Show the schema version and what the database holds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.dataspaceConfig()
			if err != nil {
				return err
			}
			if err := checkExists(cfg.URL); err != nil {
				return err
			}
			cfg.SkipMigrate = true
			s, err := openConfig(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer s.Close()
			st, err := s.DataSource().Stats(cmd.Context())
			if err != nil {
				return err
			}
			t := &output.Table{Columns: []string{"url", "backend", "schema_version", "taskmanagers", "generations", "product_versions", "value_bytes"}}
			t.Add(dataspace.Redact(cfg.URL), s.Backend(), st.SchemaVersion, st.TaskManagers, st.Generations, st.ProductVersions, st.ValueBytes)
			if err := g.print(t); err != nil {
				return err
			}
			if st.SchemaVersion == 0 {
				fmt.Fprintln(g.stderr, "the database has no schema yet: run strata db migrate")
			}
			return nil
		},
	})
	return cmd
}
