"""chainsleuth: open crypto-theft intelligence."""

__version__ = "0.1.0"
