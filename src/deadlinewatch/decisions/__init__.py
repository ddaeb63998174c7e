"""The decisions: pure functions of plain data — a snapshot the stage read, the studio (`studio.Studio`: config,
letters, the key of our ids) and the time — that return actions (core/model.py) for the store's one executor.
Nothing here opens a connection or reads a clock; the tests call them with plain values.

  studio.py         what every decision derives from the configuration (zones, working days, ids, the outbox form)
  project_view.py   a project as its client knows it
  forecaster.py     each milestone's forecast with the pass's learned spread, and what it waits for
  evaluation.py     what each client must hear now (decide_project), and the manager's risk alerts
  inbox.py          what a message in the inbox causes (decide_message)
  outbox.py         held messages released, a sent message's refusals settled
  approval.py       a held notice composed again for the manager's own date
  manager_mail.py   the manager's messages about a client message
"""
