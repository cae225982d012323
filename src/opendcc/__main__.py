"""`python -m opendcc` is the `opendcc` command."""

from opendcc.cli import main

main()
