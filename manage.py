#!/usr/bin/env python
"""Django's command-line utility for Shouyin."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def main() -> None:
    # platform/ is a source root, not a package: the standard library owns the name "platform".
    for source_root in (ROOT / "platform", ROOT):
        if str(source_root) not in sys.path:
            sys.path.insert(1, str(source_root))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from config.preflight import run_or_explain

    run_or_explain(sys.argv)


if __name__ == "__main__":
    main()
