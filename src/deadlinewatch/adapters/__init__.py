"""Adapters: the one place each outside thing (CalDAV, IMAP, SMTP, SQLite, the clock) is spoken to."""
