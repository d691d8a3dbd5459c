"""`python -m kmix.demo`: runs the main job."""

from kmix.demo import main

raise SystemExit(main())
