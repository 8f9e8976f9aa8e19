// Reads an iCalendar document on stdin with Mozilla's ical.js and prints
// what a calendar app would take from it as JSON: the calendar's name and
// refresh interval, and per VEVENT its properties, with start and end both
// as the instant ical.js computes (Unix seconds, through the document's own
// VTIMEZONE) and as the local wall-clock time. Errors go to stderr with
// exit status 1. Used by overblik's Go tests (internal/icaljs).
import ICAL from "ical.js";

let input = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) input += chunk;

function time(t) {
  if (!t) return null;
  return {
    unix: t.toUnixTime(),
    local: t.toString(),
    date: t.isDate,
    zone: t.zone ? t.zone.tzid : null,
  };
}

function first(comp, name) {
  const v = comp.getFirstPropertyValue(name);
  return v === null || v === undefined ? null : v;
}

try {
  const root = new ICAL.Component(ICAL.parse(input));
  if (root.name !== "vcalendar") throw new Error(`root component ${root.name}, want vcalendar`);
  const refresh = first(root, "refresh-interval");
  const out = {
    version: first(root, "version"),
    prodid: first(root, "prodid"),
    name: first(root, "name"),
    calname: first(root, "x-wr-calname"),
    refresh: refresh ? refresh.toSeconds() : null,
    timezones: root.getAllSubcomponents("vtimezone").map((z) => first(z, "tzid")),
    events: root.getAllSubcomponents("vevent").map((v) => {
      const ev = new ICAL.Event(v);
      const geo = first(v, "geo");
      const stamp = first(v, "dtstamp");
      return {
        uid: ev.uid,
        summary: ev.summary,
        description: ev.description,
        location: ev.location,
        status: first(v, "status"),
        class: first(v, "class"),
        url: first(v, "url"),
        geo: geo ? geo.map(Number) : null,
        sequence: ev.sequence,
        dtstamp: stamp ? stamp.toUnixTime() : null,
        start: time(ev.startDate),
        end: v.hasProperty("dtend") ? time(ev.endDate) : null,
      };
    }),
  };
  process.stdout.write(JSON.stringify(out));
} catch (err) {
  process.stderr.write(`ical.js: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
}
