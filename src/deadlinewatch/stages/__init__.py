"""The steps of a pass (pipeline.py orders them), each reading the store, deciding, and acting through the ports.

  calendar_sync.py    step 1: each project's calendar, as milestones — only what changed since the last pass
  inbox.py            step 2: every message decided once, recorded with what it causes, then moved
  evaluation.py       step 3: the forecasts, then the client messages the policy decides (with forecasts.py,
                      project_view.py) and the team's nudges (team.py)
  outbox.py           step 4: sending, never blindly repeated; then client_calendar.py, the client-facing copy
  manager_mail.py     the manager's messages about a client message (drafts, releases, failures, decisions)
"""
