"""Progress bars for long commands: a tqdm bar (count, rate) on stderr when it is a terminal, and
nothing at all otherwise (CI logs, pipes), so what scripts and tests read stays the same.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TextIO

from django.core.management.base import OutputWrapper
from tqdm import tqdm


class ProgressBar(Protocol):
    """What `progress_bar` returns: a tqdm bar or `SilentBar`, used the same way."""

    def update(self, n: int = 1) -> Any: ...

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = True, **kwargs: Any) -> Any: ...

    def close(self) -> Any: ...


class SilentBar:
    """The bar drawn where nobody watches: the same calls as tqdm's, doing nothing."""

    def update(self, n: int = 1) -> None:
        return None

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = True, **kwargs: Any) -> None:
        return None

    def close(self) -> None:
        return None


class _CommandStream:
    """A management command's stdout/stderr (`OutputWrapper`) ends every write with a newline
    and styles it (stderr in red on a colour terminal): a bar redraws its line with '\\r', so
    it writes plain and without an ending."""

    def __init__(self, wrapper: OutputWrapper):
        self._wrapper = wrapper

    def write(self, text: str) -> None:
        self._wrapper.write(text, style_func=_plain, ending="")

    def flush(self) -> None:
        self._wrapper.flush()

    def isatty(self) -> bool:
        return self._wrapper.isatty()

    def fileno(self) -> int:  # tqdm reads the terminal's size through it
        return self._wrapper.fileno()

    @property
    def encoding(self) -> str | None:  # tqdm draws with block characters where it is UTF-8
        return getattr(self._wrapper, "encoding", None)


def _plain(text: str) -> str:
    return text


def progress_wanted(stream: Any, *, enabled: bool = True) -> bool:
    """Whether to draw a bar on `stream`: it is a terminal, and neither the caller (`enabled`,
    e.g. from `--verbosity 0`) nor the environment (`NO_PROGRESS` set to anything but '' or
    '0', or `TERM=dumb`) turned bars off."""
    if not enabled or os.environ.get("NO_PROGRESS", "") not in ("", "0"):
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed file
        return False


def progress_bar(*, desc: str, total: int | None = None, unit: str = "it",
                 unit_scale: bool = False, file: TextIO | OutputWrapper | None = None,
                 enabled: bool = True) -> ProgressBar:
    """A bar counting `unit`s up to `total` (None: a count and a rate, no bar) on `file`
    (default: sys.stderr; a command passes `self.stderr`) when `progress_wanted`, else a
    `SilentBar`. Close it when done, or use `progress`."""
    stream = sys.stderr if file is None else file
    if not progress_wanted(stream, enabled=enabled):
        return SilentBar()
    if isinstance(stream, OutputWrapper):
        stream = _CommandStream(stream)
    # The bar follows the terminal's width. A terminal that says it is 0 wide or high (a pseudo-
    # terminal nobody sized: `script`, some CI runners) would get no bar at all: 80 × 24 then.
    size = _terminal_size(stream)
    shape = ({"ncols": size.columns or 80, "nrows": size.lines or 24}
             if size is not None and 0 in size else {"dynamic_ncols": True})
    # tqdm glues the unit to the number: "42 accounts", "3.1 accounts/s" read better.
    return tqdm(desc=desc, total=total, unit=f" {unit}", unit_scale=unit_scale, file=stream,
                **shape)


def _terminal_size(stream: Any) -> os.terminal_size | None:
    """The size of the terminal behind `stream`; None when it cannot say (not a real file)."""
    try:
        return os.get_terminal_size(stream.fileno())
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return None


@contextmanager
def progress(*, desc: str, total: int | None = None, unit: str = "it",
             unit_scale: bool = False, file: TextIO | OutputWrapper | None = None,
             enabled: bool = True) -> Iterator[ProgressBar]:
    """`progress_bar` as a context manager: the bar is closed (its last state drawn) on the way
    out, also on an exception, before anything else is written."""
    bar = progress_bar(desc=desc, total=total, unit=unit, unit_scale=unit_scale, file=file,
                       enabled=enabled)
    try:
        yield bar
    finally:
        bar.close()
