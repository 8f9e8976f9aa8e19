package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/overblik/overblik/access/sqlstore"
	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/config"
	"github.com/overblik/overblik/sources/medcom"
	"github.com/overblik/overblik/web"
)

// openInbox opens the store of pushed HospitalNotifications when a source
// of kind medcom-hospitalnotification is configured: tables of its own in
// db, access control's database.
func (a *app) openInbox(ctx context.Context, cfg *config.Config, db *sqlstore.Store) (*medcom.Store, error) {
	if db == nil || !slices.ContainsFunc(cfg.Sources, func(s config.Source) bool { return s.Kind == medcom.Kind }) {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := medcom.OpenStore(ctx, db.DB())
	if err != nil {
		return nil, fmt.Errorf("message store: %w", err)
	}
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
	rc, err := medcom.NewReceiver(medcom.ReceiverConfig{Store: inbox, Senders: senders, Patients: patients, Timelines: svc, Logger: log,
		Keep: max(medcom.DefaultKeep, cfg.Window.Past+30*24*time.Hour)})
	if err != nil {
		return nil, err
	}
	a.background(func(ctx context.Context) { rc.Prune(ctx, time.Hour) })
	// Before the store closes: the rebuilds under way finish first.
	a.closers = append([]func() error{func() error { rc.Close(); return nil }}, a.closers...)
	return rc, nil
}
