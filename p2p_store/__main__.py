from p2p_store.cli import main

raise SystemExit(main())
