// Parses iCalendar text from stdin with ical.js (Thunderbird's parser) and prints what it understood as JSON.
// Syntax errors throw; the test asserts on the rest (UIDs, SEQUENCE, METHOD, VTIMEZONE for every TZID).
const ICAL = require("ical.js");
let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const root = new ICAL.Component(ICAL.parse(input));
  const tzids = new Set();
  const events = root.getAllSubcomponents("vevent").map((ev) => {
    for (const prop of ev.getAllProperties()) {
      const tzid = prop.getParameter("tzid");
      if (tzid) tzids.add(tzid);
    }
    const event = new ICAL.Event(ev);
    return {
      uid: event.uid,
      sequence: event.sequence,
      start: event.startDate.toString(),
      end: event.endDate ? event.endDate.toString() : null,
      allDay: event.startDate.isDate,
      status: ev.getFirstPropertyValue("status"),
      organizer: ev.getFirstPropertyValue("organizer"),
      attendees: ev.getAllProperties("attendee").map((a) => a.getFirstValue()),
    };
  });
  const timezones = root.getAllSubcomponents("vtimezone").map((tz) => tz.getFirstPropertyValue("tzid"));
  console.log(JSON.stringify({
    method: root.getFirstPropertyValue("method"),
    events,
    missingTimezones: [...tzids].filter((t) => !timezones.includes(t)),
  }));
});
