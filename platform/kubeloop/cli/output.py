"""How the CLI talks to people: one-line errors, progress for long steps, tables and JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

from rich.console import Console
from rich.table import Table

console = Console(stderr=True)
stdout = Console()


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Print `error: message` on stderr and exit with `code` (1 unless a command documents another)."""
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)


@contextmanager
def step(title: str) -> Iterator[None]:
    """Show a spinner while a long step runs, then a tick (or a cross if it raised)."""
    with console.status(f"{title}..."):
        try:
            yield
        except BaseException:
            console.print(f"[red]✗[/] {title}", highlight=False)
            raise
    console.print(f"[green]✓[/] {title}", highlight=False)


def print_json(data: Any) -> None:
    """Machine-readable output on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A human-readable table on stdout."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    stdout.print(table)
