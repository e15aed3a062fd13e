"""``forkwave``: the doit face as a command of its own — ``doit -f <forkwave's dodo file> -d .``.

The current directory is the workspace (its ``forkwave.yaml``, ``reports/``, ``.forkwave/``), so an
installed forkwave (``pipx install``) is used like a checkout without knowing where its dodo file is:
``forkwave``, ``forkwave wave_a``, ``forkwave help``, ``forkwave dry=1``. A ``-f`` or ``-d`` given on the
command line wins (doit takes the last of each); every other argument is doit's, as it would be.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

DODO = Path(__file__).resolve().parent / "dodo.py"


def argv(args: Sequence[str]) -> list[str]:
    """The doit command line ``forkwave args`` stands for.

    >>> argv(["wave_a", "dry=1"])[2:]
    ['-d', '.', 'wave_a', 'dry=1']
    >>> argv(["--help"])[2:], argv(["-h"])[-1]
    (['-d', '.', 'help'], 'help')
    """
    rest = ["help", *args[1:]] if args[:1] in (["--help"], ["-h"]) else list(args)  # forkwave's help, not doit's
    return ["-f", str(DODO), "-d", ".", *rest]


def main(args: Sequence[str] | None = None) -> int:
    from doit.doit_cmd import DoitMain

    given = list(sys.argv[1:] if args is None else args)
    if given[:1] == ["--version"]:
        from importlib.metadata import version

        print(f"forkwave {version('forkwave')} (doit {version('doit')})")
        return 0
    return DoitMain().run(argv(given))


if __name__ == "__main__":
    sys.exit(main())
