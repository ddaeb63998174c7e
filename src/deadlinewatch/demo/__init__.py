"""`deadlinewatch demo` and the local servers it runs on (which the tests and benchmarks use too).

  story.py    the whole loop over two simulated weeks, told as it happens
  servers.py  Radicale, Xandikos, pymap and an SMTP sink on 127.0.0.1, and a config pointing at them (the tests'
              Dovecot is in tests/dovecot.py)
"""
