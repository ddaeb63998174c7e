"""The four stages of a pass, in order: calendar_sync → inbox → clients → outbox."""
