package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/config"
	"github.com/overblik/overblik/sources/medcom"
	"github.com/overblik/overblik/web"
)

// openInbox opens the store of pushed HospitalNotifications when a source
// of kind medcom-hospitalnotification is configured: access control's
// database (database_url, or the SQLite file at database_path), in tables
// of its own.
func (a *app) openInbox(cfg *config.Config) (*medcom.Store, error) {
	if !slices.ContainsFunc(cfg.Sources, func(s config.Source) bool { return s.Kind == medcom.Kind }) {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var st *medcom.Store
	var err error
	if cfg.DatabaseURL != "" {
		st, err = medcom.OpenPostgres(ctx, cfg.DatabaseURL)
	} else {
		st, err = medcom.OpenSQLite(ctx, cmp.Or(cfg.DatabasePath, config.DefaultDatabasePath))
	}
	if err != nil {
		return nil, fmt.Errorf("message store: %w", err)
	}
	a.closers = append(a.closers, st.Close)
	return st, nil
}

// receiveMessages takes the medcom sources' messages at POST
// /fhir/$process-message and rebuilds the patient's timeline after each;
// nil when no such source is configured.
func (a *app) receiveMessages(cfg *config.Config, inbox *medcom.Store, patients *aggregator.Patients, svc *aggregator.Service, log *slog.Logger) (web.MessageReceiver, error) {
	if inbox == nil {
		return nil, nil
	}
	var senders []string
	for _, s := range cfg.Sources {
		if s.Kind == medcom.Kind {
			senders = append(senders, s.Name)
		}
	}
	rc, err := medcom.NewReceiver(medcom.ReceiverConfig{Store: inbox, Senders: senders, Patients: patients, Timelines: svc, Logger: log})
	if err != nil {
		return nil, err
	}
	// Before the store closes: the rebuilds under way finish first.
	a.closers = append([]func() error{func() error { rc.Close(); return nil }}, a.closers...)
	return rc, nil
}
