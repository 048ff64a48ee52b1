"""`python -m volctl`: the same CLI as the `volctl` script (used for processes `volctl up` starts)."""

from volctl.cli.app import main

main()
