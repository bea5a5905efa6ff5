"""`python -m app` is the `potminer` command."""

from app.cli import main

raise SystemExit(main())
