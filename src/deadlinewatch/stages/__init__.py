"""The steps of a pass (pipeline.py orders them): each reads a snapshot from the store (state.py), decides with a
pure function (decisions/), and carries the actions out through the store's one executor and the servers' ports.

  calendar_sync.py    step 1: each project's calendar, as milestones — only what changed since the last pass
  inbox.py            step 2: every message read off the loop, looked up, decided once, recorded, then moved
  evaluation.py       step 3: per project a snapshot, decide_project, its plans and forecasts recorded; the
                      team's nudges (team.py)
  outbox.py           step 4: sending, never blindly repeated; then client_calendar.py, the client-facing copy
  state.py            what the steps read for a decision, and `record` (a decision with client groups)
"""
