package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/config"
)

// checker is a source that can check itself; `overblik check` asks each.
type checker interface {
	Check(ctx context.Context, identifierSystem string) []aggregator.Check
}

// check asks every configured source whether it answers, speaks FHIR R4,
// accepts our credentials and answers the searches we need (each is tried,
// for a patient nobody is: a server's declarations only inform), and prints
// a table. It reports false when any check failed.
func check(ctx context.Context, cfg *config.Config, out io.Writer, log *slog.Logger) (bool, error) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tCHECK\tRESULT\tDETAIL")
	allOK := true
	table := connectors(nil)
	for _, sc := range cfg.Sources {
		src, err := openSource(table, sc, cfg, log, nil)
		if err != nil {
			allOK = false
			fmt.Fprintf(tw, "%s\tconfiguration\tFAIL\t%v\n", sc.Name, err)
			continue
		}
		c, ok := src.(checker)
		if !ok {
			fmt.Fprintf(tw, "%s\t-\tSKIP\tkind %s has no self-check\n", sc.Name, sc.Kind)
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, sc.Timeout+5*time.Second)
		for _, r := range c.Check(cctx, cfg.PatientIdentifierSystem) {
			res := "ok"
			if !r.OK {
				res, allOK = "FAIL", false
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", sc.Name, r.Name, res, r.Detail)
		}
		cancel()
	}
	return allOK, tw.Flush()
}
