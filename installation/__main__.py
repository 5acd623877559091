"""`python -m installation`: the same as the `installation` command."""

from installation.cli import main

main()
