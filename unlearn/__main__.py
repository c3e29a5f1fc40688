from unlearn.cli import main

raise SystemExit(main())
