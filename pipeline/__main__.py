"""`python -m pipeline …` (what torchrun launches) is the same CLI as `capf …`."""

from pipeline.cli import main

main()
