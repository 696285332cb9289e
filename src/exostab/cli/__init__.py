"""The exostab command line: one Typer app (``exostab.cli:app``, the console script).

The app, its callback and error handling are in ``program``; the options several commands
share in ``options``; each command in the module of its stage. Commands are registered here,
in the order ``exostab --help`` lists them.
"""

from __future__ import annotations

from exostab.cli.forecast import forecast
from exostab.cli.inspect import inspect_file
from exostab.cli.monitor import monitor
from exostab.cli.program import app
from exostab.cli.score import explain, score, serve
from exostab.cli.simulate import simulate
from exostab.cli.store import promote, runs_page_address
from exostab.cli.train import train

app.command()(train)
app.command("runs-page")(runs_page_address)
app.command()(promote)
app.command("inspect")(inspect_file)
app.command()(score)
app.command()(forecast)
app.command()(explain)
app.command()(monitor)
app.command()(serve)
app.command()(simulate)

__all__ = ["app"]
