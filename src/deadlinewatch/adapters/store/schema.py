"""The state's schema: every migration, named, in order. `PRAGMA user_version` says how many have run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    """One step of the schema, from version i to i + 1: what it is for, in a few words, and its SQL."""

    what: str
    sql: str


# Each entry moves the schema from version i to i + 1. Never edit a released entry: append a new one.
MIGRATIONS: list[Migration] = [Migration(
    "milestones, inbox messages, notes, forecasts, client dates, the outbox, passes and servers",
    """
    CREATE TABLE milestones (
        project TEXT NOT NULL, uid TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
        deadline TEXT NOT NULL, state TEXT NOT NULL, private INTEGER NOT NULL, sequence INTEGER NOT NULL,
        percent INTEGER, start TEXT, href TEXT NOT NULL, synced_at TEXT NOT NULL,
        PRIMARY KEY (project, uid)
    );
    -- every message taken from the inbox, decided once; `moved` says whether the IMAP move happened
    CREATE TABLE messages (
        message_key TEXT PRIMARY KEY, message_id TEXT NOT NULL, sender TEXT NOT NULL, subject TEXT NOT NULL,
        received_at TEXT NOT NULL, outcome TEXT NOT NULL, target_folder TEXT NOT NULL, project TEXT,
        problems TEXT NOT NULL, raw BLOB NOT NULL, body TEXT NOT NULL, decided_at TEXT NOT NULL,
        moved INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE reports (
        id INTEGER PRIMARY KEY, message_key TEXT NOT NULL REFERENCES messages(message_key),
        project TEXT NOT NULL, uid TEXT NOT NULL, at TEXT NOT NULL, done INTEGER, remaining_days REAL,
        eta TEXT, cause TEXT NOT NULL, plan TEXT NOT NULL, blocked INTEGER NOT NULL, sender TEXT NOT NULL
    );
    CREATE INDEX reports_by_milestone ON reports (project, uid, at);
    CREATE TABLE forecasts (
        project TEXT NOT NULL, uid TEXT NOT NULL, computed_at TEXT NOT NULL, p50 TEXT, p80 TEXT, p_miss REAL,
        reason TEXT NOT NULL, target TEXT, PRIMARY KEY (project, uid)
    );
    -- what the client's calendar shows for each milestone: the SEQUENCE only ever grows
    CREATE TABLE client_dates (
        project TEXT NOT NULL, uid TEXT NOT NULL, sequence INTEGER NOT NULL, shown_date TEXT,
        promised TEXT, delivered_sent INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (project, uid)
    );
    -- the outbox: a message is composed and recorded here before any attempt to send it
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY, kind TEXT NOT NULL, audience TEXT NOT NULL, project TEXT, uid TEXT,
        token TEXT NOT NULL UNIQUE, message_id TEXT NOT NULL UNIQUE, mail_from TEXT NOT NULL,
        recipients TEXT NOT NULL, message BLOB NOT NULL, state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, created TEXT NOT NULL, sent TEXT, last_error TEXT,
        promised TEXT, decided_by TEXT
    );
    CREATE INDEX outbox_by_state ON outbox (state, id);
    CREATE TABLE passes (id INTEGER PRIMARY KEY, started TEXT NOT NULL, finished TEXT NOT NULL,
                         ok INTEGER NOT NULL, summary TEXT NOT NULL);
    CREATE TABLE servers (name TEXT PRIMARY KEY, ok INTEGER NOT NULL, detail TEXT NOT NULL,
                          checked_at TEXT NOT NULL);
    """)]

MIGRATIONS.append(Migration(
    "finish-to-start links, SMTP back-off, drafts pointing at their notice, cancellations sent",
    """
    -- finish-to-start links read from RELATED-TO (JSON list of [successor uid, gap days])
    ALTER TABLE milestones ADD COLUMN successors TEXT NOT NULL DEFAULT '[]';
    -- retries of temporary SMTP failures back off; a draft to the manager points at its held notice
    ALTER TABLE outbox ADD COLUMN next_attempt TEXT;
    ALTER TABLE outbox ADD COLUMN parent INTEGER;
    ALTER TABLE client_dates ADD COLUMN cancelled_sent INTEGER NOT NULL DEFAULT 0;
    """))

MIGRATIONS.append(Migration(
    "failed attempts at a message, each folder's UIDVALIDITY",
    """
    -- a message that made its processing fail: after MAX_ATTEMPTS it is filed as rejected (no poison stalls)
    CREATE TABLE message_failures (message_key TEXT PRIMARY KEY, attempts INTEGER NOT NULL, last_error TEXT NOT NULL);
    -- each folder's UIDVALIDITY as last seen: a change is logged (Message-IDs keep the rescan harmless)
    CREATE TABLE folders (name TEXT PRIMARY KEY, uidvalidity INTEGER NOT NULL);
    """))

MIGRATIONS.append(Migration(
    "calendar sync state, entries as fetched, the client-facing calendar copy",
    """
    -- each project's calendar: its resolved URL and the RFC 6578 sync token to ask with next time
    CREATE TABLE calendars (project TEXT PRIMARY KEY, ref TEXT NOT NULL, url TEXT NOT NULL, sync_token TEXT,
                            fingerprint TEXT NOT NULL DEFAULT '');
    -- every entry as last fetched: a change of config re-reads milestones from here, not from the server
    CREATE TABLE calendar_entries (project TEXT NOT NULL, href TEXT NOT NULL, etag TEXT NOT NULL,
                                   ics TEXT NOT NULL, recurring INTEGER NOT NULL DEFAULT 0,
                                   PRIMARY KEY (project, href));
    -- the client-facing calendar copy: what we last wrote for each milestone, and its ETag
    CREATE TABLE client_calendar (project TEXT NOT NULL, uid TEXT NOT NULL, url TEXT NOT NULL, etag TEXT,
                                  sequence INTEGER NOT NULL, date TEXT NOT NULL, status TEXT NOT NULL,
                                  PRIMARY KEY (project, uid));
    """))

MIGRATIONS.append(Migration(
    "the key of our ids and the CalDAV account, old mail found by date",
    """
    -- the key that makes our Message-IDs and [dw:…] tokens impossible for anyone else to compute (HMAC)
    CREATE TABLE keys (name TEXT PRIMARY KEY, value BLOB NOT NULL);
    -- the text of old mail is pruned after imap.keep_mail_days
    CREATE INDEX messages_by_decided ON messages (decided_at);
    """))

MIGRATIONS.append(Migration(
    "whether the client's calendar has each milestone, or only the letters' table",
    """
    -- until now every date shown went with an invitation: the rows there are invited
    ALTER TABLE client_dates ADD COLUMN invited INTEGER NOT NULL DEFAULT 1;
    """))

MIGRATIONS.append(Migration(
    "the client pages' tokens",
    """
    -- /p/<token>/: a random token per project (at least 128 bits), made once and kept
    CREATE TABLE client_pages (project TEXT PRIMARY KEY, token TEXT NOT NULL UNIQUE, created TEXT NOT NULL);
    """))

MIGRATIONS.append(Migration(
    "the dates each client group gave, beside its primary message",
    """
    -- JSON list of the ShowDates: what the client has been told excludes groups held for the manager or rejected
    ALTER TABLE outbox ADD COLUMN shows TEXT;
    """))

MIGRATIONS.append(Migration(
    "the manager's risk alerts that are up",
    """
    -- one per milestone while its alert is up: what the manager was last told (core/alert.py)
    CREATE TABLE risk_alerts (project TEXT NOT NULL, uid TEXT NOT NULL, p_miss REAL NOT NULL, p80 TEXT,
                              target TEXT, raised TEXT NOT NULL, PRIMARY KEY (project, uid));
    """))

MIGRATIONS.append(Migration(
    "a note's Prevent: what keeps the slip from happening again",
    """
    ALTER TABLE reports ADD COLUMN prevent TEXT NOT NULL DEFAULT '';
    """))

MIGRATIONS.append(Migration(
    "each forecast's reason as phrases, said in the reader's language",
    """
    -- JSON of core/words.py's phrases; NULL for a forecast made before (its English reason stands)
    ALTER TABLE forecasts ADD COLUMN words TEXT;
    """))

MIGRATIONS.append(Migration(
    "the newest note a held notice was composed from",
    """
    -- a notice held for the manager is composed again when a newer note comes: the note it was made from
    ALTER TABLE outbox ADD COLUMN basis TEXT;
    """))

MIGRATIONS.append(Migration(
    "the manager's web sessions",
    """
    -- a signed cookie names a session, and it counts only while its row is here: signing out deletes the row, a
    -- restart keeps it. Times are UTC, ISO 8601 to the second (one width: text order is time order)
    CREATE TABLE web_sessions (sid TEXT PRIMARY KEY, username TEXT NOT NULL, created TEXT NOT NULL,
                               expires TEXT NOT NULL);
    CREATE INDEX web_sessions_by_expiry ON web_sessions (expires);
    """))

MIGRATIONS.append(Migration(
    "the UID of each milestone's entry in the client's calendar",
    """
    -- a client's entry carries a UID of our own (a keyed hash), never the team calendar's: a program that finds the
    -- team's UID in the team's own calendar overwrites that entry. The first UID an entry went out with stays; every
    -- milestone already in a letter, an invitation or the client-facing calendar (held letters are composed too)
    -- went out with the team's UID, and keeps it, so the entries clients have keep moving in place
    CREATE TABLE client_entries (project TEXT NOT NULL, uid TEXT NOT NULL, entry_uid TEXT NOT NULL,
                                 PRIMARY KEY (project, uid));
    INSERT OR IGNORE INTO client_entries (project, uid, entry_uid) SELECT project, uid, uid FROM client_dates;
    INSERT OR IGNORE INTO client_entries (project, uid, entry_uid) SELECT project, uid, uid FROM client_calendar;
    """))

MIGRATIONS.append(Migration(
    "each message's place on the IMAP server: a message decided once by it too",
    """
    -- where the server keeps a message it was read from: its mailbox (account and folder), the folder's UIDVALIDITY
    -- and its UID — unique, as the Message-ID (the message key) is: a message is decided once by either. The key is
    -- read from the bytes (a digest for mail without a Message-ID), and the bytes read can differ between two
    -- readings (a larger imap.max_message_bytes on another daemon reads whole what one read as its header); the
    -- place is the server's and cannot. NULL for what was decided before this (or recorded by no reading): NULLs
    -- are never equal, on SQLite and PostgreSQL alike
    ALTER TABLE messages ADD COLUMN mailbox TEXT;
    ALTER TABLE messages ADD COLUMN uidvalidity INTEGER;
    ALTER TABLE messages ADD COLUMN uid INTEGER;
    CREATE UNIQUE INDEX messages_by_place ON messages (mailbox, uidvalidity, uid);
    """))

MIGRATIONS.append(Migration(
    "a project's messages in the outbox found by its index",
    """
    -- each pass reads every project's outbox rows (its first client message, the dates its groups gave, its notices
    -- told and held): without an index each of those read the whole outbox, which grows by a weekly check-in per
    -- project a week — a thousand projects read a year's outbox four thousand times a pass
    CREATE INDEX outbox_by_project ON outbox (project, id);
    """))

MIGRATIONS.append(Migration(
    "client messages composed under approval = \"shadow\" marked",
    """
    -- a client message composed under approval = "shadow" went to the manager alone: the dates its group gave were
    -- never told, so the client's page, feed and calendar copy never show them, and once the project leaves shadow
    -- its letters judge "again" without them. Messages recorded before this are taken as told (0)
    ALTER TABLE outbox ADD COLUMN shadow INTEGER NOT NULL DEFAULT 0;
    """))
