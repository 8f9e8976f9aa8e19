package notify_test

import (
	"context"
	"errors"
	"io"
	"mime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/notify"
	"github.com/overblik/overblik/view"
)

const cpr = "3002410148" // Anna's: in no notice, ever

func body(t *testing.T, m interface{ Read([]byte) (int, error) }) string {
	t.Helper()
	b, err := io.ReadAll(m)
	must(t, err)
	return string(b)
}

// waitFor polls cond until it holds or 10 s pass; the workers run on their own.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOneChangeOneNoticePerRecipientOnThreeReplicas: three aggregator
// services and three notify workers on one Redis and one PostgreSQL; an
// appointment moves, all three refresh at once, and each recipient gets one
// notice: Anna an e-mail over STARTTLS, Rasmus a signed webhook call.
func TestOneChangeOneNoticePerRecipientOnThreeReplicas(t *testing.T) {
	w := newWorld(t, worldOptions{replicas: 3, redis: true, postgres: true})
	xray := appt("xray", "Røntgen af knæ", at(w.loc, 7, 10, 0), false)
	w.hosp.set(xray, appt("train", "Genoptræning", at(w.loc, 8, 9, 0), false))
	w.refresh(t, 0)

	ctx, cancel := context.WithCancel(context.Background())
	var running sync.WaitGroup
	for _, n := range w.nots {
		running.Go(func() { n.Run(ctx) })
	}
	t.Cleanup(func() { cancel(); running.Wait() })

	xray.Start, xray.End = xray.Start.Add(time.Hour), xray.End.Add(time.Hour)
	w.hosp.set(xray, appt("train", "Genoptræning", at(w.loc, 8, 9, 0), false))
	w.clk.add(time.Minute)
	var refreshes sync.WaitGroup
	for i := range w.svcs {
		refreshes.Go(func() { w.refresh(t, i) })
	}
	refreshes.Wait()

	waitFor(t, "one e-mail and one webhook call", func() bool {
		msgs, _ := w.mail.received()
		return len(msgs) >= 1 && len(w.hook.bodies()) >= 1
	})
	// Let every worker have its rounds: nothing more may arrive.
	for range 3 {
		w.tick(t)
	}
	counts, err := w.stores[0].Outbox(context.Background())
	must(t, err)
	msgs, rcpts := w.mail.received()
	hooks := w.hook.bodies()
	if len(msgs) != 1 || len(hooks) != 1 || counts["sent"] != 2 || counts["pending"] != 0 {
		t.Fatalf("got %d e-mails, %d webhook calls, outbox %v; want one each, both sent", len(msgs), len(hooks), counts)
	}

	m := msgs[0]
	text := body(t, m.Body)
	subject, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if rcpts[0] != "anna@example.test" || !strings.Contains(text, "Der er en ændring i dine aftaler. Se Overblik.") ||
		!strings.Contains(text, "https://overblik.example/p/"+w.ref.Handle) || !strings.Contains(subject, "ændring") {
		t.Errorf("Anna's e-mail to %s, %q:\n%s", rcpts[0], subject, text)
	}
	if strings.Contains(text, "Røntgen") {
		t.Errorf("without details the e-mail names the entry:\n%s", text)
	}
	key := notify.Key(w.ref.Handle, "v2", w.anna.Handle, notify.KindChange)
	if got := m.Header.Get("Message-Id"); got != "<"+key+"@overblik.example>" {
		t.Errorf("Message-ID %q, want the idempotency key %s", got, key)
	}
	h := hooks[0]
	if h.To != "+4512345678" || h.Lang != "en" || h.Kind != notify.KindChange ||
		!strings.Contains(h.Text, "There is a change in the appointments of someone you follow.") ||
		h.ID != notify.Key(w.ref.Handle, "v2", w.rasmus.Handle, notify.KindChange) || w.hook.keys[0] != h.ID {
		t.Errorf("Rasmus's webhook call: %+v, Idempotency-Key %q", h, w.hook.keys[0])
	}
	if len(w.hook.bad) > 0 {
		t.Errorf("the receiver refused requests: %v", w.hook.bad)
	}
	for _, s := range []string{text, strings.Join(flatten(m.Header), "\n"), h.Text, h.Link, h.Subject} {
		if strings.Contains(s, cpr) {
			t.Errorf("a notice carries the CPR number: %s", s)
		}
	}
	// Rasmus's notice is in Anna's log, once, as his.
	if got := w.noticesTo(t, w.rasmus); got != 1 {
		t.Errorf("Anna's log holds %d notices to Rasmus, want 1", got)
	}
	for _, ev := range w.annasLog(t) {
		if ev.Action == access.ActionNotice && ev.ActorHandle == w.rasmus.Handle &&
			(ev.ActorRole != access.RoleRelative || ev.ActorName != "Rasmus" || ev.Ref != h.ID) {
			t.Errorf("the notice row: %+v", ev)
		}
	}
}

func flatten(h map[string][]string) []string {
	var out []string
	for k, vs := range h {
		for _, v := range vs {
			out = append(out, k+": "+v)
		}
	}
	return out
}

// TestFailedDeliveryIsRetriedThenMarkedFailed: the webhook answers 503;
// the notice is tried again after its backoff, not before, and after
// MaxAttempts (3) it is failed and listed, without the address.
func TestFailedDeliveryIsRetriedThenMarkedFailed(t *testing.T) {
	w := newWorld(t, worldOptions{replicas: 1})
	ctx := context.Background()
	xray := appt("xray", "Røntgen af knæ", at(w.loc, 7, 10, 0), false)
	w.hosp.set(xray)
	w.refresh(t, 0)

	// Once failing, then answering: retried and delivered.
	w.hook.setFail(true)
	xray.Start = xray.Start.Add(time.Hour)
	w.hosp.set(xray)
	w.clk.add(time.Minute)
	w.refresh(t, 0)
	w.tick(t)
	if got := w.hook.attempts(); got != 1 {
		t.Fatalf("%d attempts after the first round, want 1", got)
	}
	w.hook.setFail(false)
	w.clk.add(30 * time.Second) // the backoff is a minute
	w.tick(t)
	if got := w.hook.attempts(); got != 1 {
		t.Errorf("tried again during the backoff: %d attempts", got)
	}
	w.clk.add(30 * time.Second)
	w.tick(t)
	if got := len(w.hook.bodies()); got != 1 {
		t.Fatalf("the retry delivered %d notices, want 1", got)
	}

	// Always failing: three attempts, a minute and two minutes apart, then failed.
	w.hook.setFail(true)
	xray.Start = xray.Start.Add(time.Hour)
	w.hosp.set(xray)
	w.clk.add(time.Minute)
	w.refresh(t, 0)
	before := w.hook.attempts()
	for _, wait := range []time.Duration{0, time.Minute, 2 * time.Minute, 4 * time.Minute, time.Hour} {
		w.clk.add(wait)
		w.tick(t)
	}
	if got := w.hook.attempts() - before; got != 3 {
		t.Errorf("%d attempts, want MaxAttempts = 3", got)
	}
	failed, err := w.nots[0].Failed(ctx, 10)
	must(t, err)
	if len(failed) != 1 || failed[0].Channel != notify.ChannelWebhook || failed[0].Attempts != 3 || failed[0].Kind != notify.KindChange ||
		!strings.Contains(failed[0].Error, "503") || strings.Contains(failed[0].Error, "+4512345678") {
		t.Errorf("failed = %+v", failed)
	}
	msgs, _ := w.mail.received()
	if len(msgs) != 2 {
		t.Errorf("Anna got %d e-mails, want one per change whatever the webhook does", len(msgs))
	}
}

// TestQuietHoursHoldNoticesBack: a change at 23:00 reaches Anna, whose
// quiet hours are the default 22:00-07:00, at 07:00 and not before.
func TestQuietHoursHoldNoticesBack(t *testing.T) {
	w := newWorld(t, worldOptions{replicas: 1})
	ctx := context.Background()
	p, err := w.nots[0].Preferences(ctx, w.anna.Handle)
	must(t, err)
	p.QuietFrom, p.QuietTo = notify.DefaultQuietFrom, notify.DefaultQuietTo
	must(t, w.nots[0].SetPreferences(ctx, p))

	xray := appt("xray", "Røntgen af knæ", at(w.loc, 7, 10, 0), false)
	w.hosp.set(xray)
	w.clk.set(at(w.loc, 1, 22, 50))
	w.refresh(t, 0)
	xray.Start = xray.Start.Add(time.Hour)
	w.hosp.set(xray)
	w.clk.set(at(w.loc, 1, 23, 0))
	w.refresh(t, 0)
	for _, now := range []time.Time{at(w.loc, 1, 23, 0), at(w.loc, 2, 3, 0), at(w.loc, 2, 6, 59)} {
		w.clk.set(now)
		w.tick(t)
		if msgs, _ := w.mail.received(); len(msgs) != 0 {
			t.Fatalf("an e-mail at %v, in the quiet hours", now)
		}
	}
	if got := len(w.hook.bodies()); got != 1 {
		t.Errorf("Rasmus, without quiet hours, got %d notices at once, want 1", got)
	}
	w.clk.set(at(w.loc, 2, 7, 0))
	w.tick(t)
	if msgs, _ := w.mail.received(); len(msgs) != 1 {
		t.Errorf("%d e-mails when the quiet hours end, want 1", len(msgs))
	}
}

// TestRestrictedEntriesAreNotToldToARelative: Anna's delegation to Rasmus
// leaves her restricted entries out, so a change to one reaches her and not
// him (no notice, no row in her log); a change to a visible entry in the
// same build reaches him with details of that one only.
func TestRestrictedEntriesAreNotToldToARelative(t *testing.T) {
	w := newWorld(t, worldOptions{replicas: 1, details: true, tweak: func(o *notify.Options) {
		o.Details[notify.ChannelWebhook] = true
	}})
	xray := appt("xray", "Røntgen af knæ", at(w.loc, 7, 10, 0), false)
	w.hosp.set(xray)
	w.refresh(t, 0)

	psych := appt("psyk", "Samtale i psykiatrisk ambulatorium", at(w.loc, 9, 13, 0), true)
	w.hosp.set(xray, psych)
	w.clk.add(time.Minute)
	w.refresh(t, 0)
	w.tick(t)
	msgs, _ := w.mail.received()
	if len(msgs) != 1 || !strings.Contains(body(t, msgs[0].Body), "Ny: Samtale i psykiatrisk ambulatorium") {
		t.Fatalf("Anna got %d e-mails about her own restricted entry, want 1 naming it", len(msgs))
	}
	if got := len(w.hook.bodies()); got != 0 {
		t.Errorf("Rasmus got %d notices about a restricted entry", got)
	}
	if got := w.noticesTo(t, w.rasmus); got != 0 {
		t.Errorf("Anna's log holds %d notices to Rasmus, who was told nothing", got)
	}

	// Both at once: the visible one moves, the restricted one moves.
	xray.Start, xray.End = xray.Start.Add(time.Hour), xray.End.Add(time.Hour)
	psych.Start, psych.End = psych.Start.Add(time.Hour), psych.End.Add(time.Hour)
	w.hosp.set(xray, psych)
	w.clk.add(time.Minute)
	w.refresh(t, 0)
	w.tick(t)
	hooks := w.hook.bodies()
	if len(hooks) != 1 {
		t.Fatalf("Rasmus got %d notices, want 1", len(hooks))
	}
	if !strings.Contains(hooks[0].Text, "Moved: Røntgen af knæ") || strings.Contains(hooks[0].Text, "psyk") || strings.Contains(hooks[0].Text, "Samtale") {
		t.Errorf("Rasmus's notice:\n%s", hooks[0].Text)
	}
	if got := w.noticesTo(t, w.rasmus); got != 1 {
		t.Errorf("Anna's log holds %d notices to Rasmus, want 1", got)
	}

	// Revoked, Rasmus is told nothing more.
	gs, err := w.acc[0].Grants(context.Background(), w.anna)
	must(t, err)
	must(t, w.acc[0].Revoke(context.Background(), w.anna, gs[0].ID))
	xray.Start = xray.Start.Add(time.Hour)
	w.hosp.set(xray, psych)
	w.clk.add(time.Minute)
	w.refresh(t, 0)
	w.tick(t)
	if got := len(w.hook.bodies()); got != 1 {
		t.Errorf("after the revocation Rasmus got %d notices in all, want still 1", got)
	}
}

// TestOnlyUpcomingEntries: a change to an appointment that is over tells nobody.
func TestOnlyUpcomingEntries(t *testing.T) {
	w := newWorld(t, worldOptions{replicas: 1})
	early := appt("early", "Blodprøve", at(w.loc, 1, 7, 0), false) // over by 9:00
	w.hosp.set(early)
	w.refresh(t, 0)
	early.Status = "cancelled"
	w.hosp.set(early)
	w.clk.add(time.Minute)
	w.refresh(t, 0)
	w.tick(t)
	if msgs, _ := w.mail.received(); len(msgs)+len(w.hook.bodies()) != 0 {
		t.Errorf("%d e-mails and %d webhook calls about an appointment that is over", len(msgs), len(w.hook.bodies()))
	}
}

// TestRemindersTheDayBefore: at 18:00 (and not before) everyone who asked
// is reminded of tomorrow's appointments, once, from the cached timeline
// without asking any source.
func TestRemindersTheDayBefore(t *testing.T) {
	w := newWorld(t, worldOptions{replicas: 2, details: true})
	w.hosp.set(appt("tomorrow", "Kontrol hos egen læge", at(w.loc, 2, 10, 0), false),
		appt("later", "Genoptræning", at(w.loc, 3, 9, 0), false))
	w.refresh(t, 0)
	fetches := w.hosp.fetches()
	w.clk.set(at(w.loc, 1, 17, 59))
	w.tick(t)
	if msgs, _ := w.mail.received(); len(msgs) != 0 {
		t.Fatalf("%d reminders before 18:00", len(msgs))
	}
	for _, now := range []time.Time{at(w.loc, 1, 18, 0), at(w.loc, 1, 18, 5), at(w.loc, 1, 23, 0)} {
		w.clk.set(now)
		w.tick(t) // both replicas: one holds the lease
	}
	msgs, _ := w.mail.received()
	hooks := w.hook.bodies()
	if len(msgs) != 1 || len(hooks) != 1 {
		t.Fatalf("%d e-mail and %d webhook reminders, want one each", len(msgs), len(hooks))
	}
	text := body(t, msgs[0].Body)
	if !strings.Contains(text, "Husk: du har aftaler i morgen.") || !strings.Contains(text, "Kontrol hos egen læge: onsdag 2. december kl. 10.00") ||
		strings.Contains(text, "Genoptræning") {
		t.Errorf("Anna's reminder:\n%s", text)
	}
	if hooks[0].Kind != notify.KindReminder || strings.Contains(hooks[0].Text, "Kontrol") {
		t.Errorf("Rasmus's reminder (details off for webhooks): %+v", hooks[0])
	}
	if got := w.noticesTo(t, w.rasmus); got != 1 {
		t.Errorf("Anna's log holds %d notices to Rasmus, want 1", got)
	}
	if got := w.hosp.fetches() - fetches; got != 0 {
		t.Errorf("the reminders asked the source %d times", got)
	}
}

// flakyAudit fails audit writes while down is set, as a replica that dies
// after recording the event would leave it.
type flakyAudit struct {
	view.Access
	mu   sync.Mutex
	down bool
}

func (f *flakyAudit) Audit(ctx context.Context, ev access.Event) error {
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down {
		return errors.New("database gone")
	}
	return f.Access.Audit(ctx, ev)
}

// TestEventLeftPendingIsHandledByTheWorker: when working out the notices
// of a build fails after its event was recorded, the worker handles the
// event a minute later, and handling it again adds no notice twice.
func TestEventLeftPendingIsHandledByTheWorker(t *testing.T) {
	flaky := &flakyAudit{}
	w := newWorld(t, worldOptions{replicas: 1, access: func(a view.Access) view.Access { flaky.Access = a; return flaky }})
	xray := appt("xray", "Røntgen af knæ", at(w.loc, 7, 10, 0), false)
	w.hosp.set(xray)
	w.refresh(t, 0)
	flaky.mu.Lock()
	flaky.down = true
	flaky.mu.Unlock()
	xray.Start = xray.Start.Add(time.Hour)
	w.hosp.set(xray)
	w.clk.add(time.Minute)
	w.refresh(t, 0)
	flaky.mu.Lock()
	flaky.down = false
	flaky.mu.Unlock()
	w.tick(t)
	if msgs, _ := w.mail.received(); len(msgs)+len(w.hook.bodies()) != 0 {
		t.Fatalf("notices although none could be audited")
	}
	w.clk.add(time.Minute)
	w.tick(t)
	w.clk.add(time.Minute)
	w.tick(t)
	msgs, _ := w.mail.received()
	if len(msgs) != 1 || len(w.hook.bodies()) != 1 {
		t.Errorf("after the worker's sweep: %d e-mails, %d webhook calls; want one each", len(msgs), len(w.hook.bodies()))
	}
	if got := w.noticesTo(t, w.rasmus); got != 1 {
		t.Errorf("Anna's log holds %d notices to Rasmus, want 1", got)
	}
}
