"""Calendar entries and notes the integration tests share."""

DESIGN = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VTODO
UID:design-1
DTSTAMP:20261101T000000Z
SUMMARY:Design mockups
DUE;VALUE=DATE:20261204
SEQUENCE:2
END:VTODO
END:VCALENDAR
"""
LAUNCH = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:launch-1
DTSTAMP:20261101T000000Z
SUMMARY:Launch
DTSTART;VALUE=DATE:20261210
DTEND;VALUE=DATE:20261211
END:VEVENT
END:VCALENDAR
"""
SECRET = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VTODO
UID:internal-1
DTSTAMP:20261101T000000Z
SUMMARY:Internal security review
DUE:20261203T170000
CLASS:PRIVATE
END:VTODO
END:VCALENDAR
"""

NOTE = """From: Alice <alice@studio.example>
To: progress@studio.example
Subject: [acme-web] progress
Date: Mon, 30 Nov 2026 08:30:00 +0000
Message-ID: <note-1@studio.example>
Content-Type: text/plain; charset=utf-8

Milestone: design mockups
Done: 20%
Remaining: 10 days
Cause: the brand assets arrived a week late
Plan: a second designer joins on Monday; we review the mockups daily

--
Alice
"""
STRANGER = """From: Mallory <mallory@evil.example>
To: progress@studio.example
Subject: [acme-web] progress
Date: Mon, 30 Nov 2026 08:31:00 +0000
Message-ID: <evil-1@evil.example>

Milestone: Launch
Done: 0%
Remaining: 40 days
"""
BROKEN = """From: bob@studio.example
To: progress@studio.example
Subject: [acme-web] status
Date: Mon, 30 Nov 2026 08:32:00 +0000
Message-ID: <note-2@studio.example>

Milestone: Lunch menu
Done: lots
"""
