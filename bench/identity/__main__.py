from bench.identity.cli import main

raise SystemExit(main())
