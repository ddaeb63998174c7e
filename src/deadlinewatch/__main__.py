from deadlinewatch.cli import main

raise SystemExit(main())
