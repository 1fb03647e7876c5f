"""``python -m mcstudy``: the command line."""

from mcstudy.cli import main

main()
