"""`python -m img2tex.cli ...` (as torchrun starts it): the same as the `img2tex` command."""

from img2tex.cli import main

main()
