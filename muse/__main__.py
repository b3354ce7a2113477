from muse.cli import main

raise SystemExit(main())
