"""Source files and spans: where a thing stands in the package, and how to show that place to a user."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Span:
    """A place in a file: 1-based line and column of the start, optionally of the end (exclusive)."""

    path: str
    line: int
    column: int
    end_line: int | None = None
    end_column: int | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"

    def __reduce__(self) -> tuple:
        # positional: smaller and faster to pickle than a dict of fields (parse caches hold many)
        return (Span, (self.path, self.line, self.column, self.end_line, self.end_column))

    def shifted(self, line_offset: int, column_offset: int = 0) -> "Span":
        """This span moved, e.g. from a position inside an embedded expression to the file's position.

        `column_offset` applies to the first line only (continuation lines keep their own columns).
        """
        col = self.column + (column_offset if self.line == 1 else 0)
        end_col = self.end_column
        if end_col is not None and self.end_line == 1:
            end_col += column_offset
        end_line = None if self.end_line is None else self.end_line + line_offset
        return Span(self.path, self.line + line_offset, col, end_line, end_col)


def new_span(path: str, line: int, column: int, end_line: int | None = None,
             end_column: int | None = None) -> Span:
    """Span(...) for the parsers' hot paths: built through __dict__, since a frozen dataclass's
    __init__ costs several times more and a large package makes hundreds of thousands of spans."""
    span = object.__new__(Span)
    span.__dict__.update(path=path, line=line, column=column, end_line=end_line, end_column=end_column)
    return span


@dataclass(frozen=True)
class SourceFile:
    """A text file read once; diagnostics quote its lines."""

    path: str
    text: str
    _lines: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @staticmethod
    def read(path: Path | str, display_path: str | None = None) -> "SourceFile":
        data = Path(path).read_bytes()
        text = data.decode("utf-8", errors="replace")
        return SourceFile(display_path or str(path), text)

    def line(self, number: int) -> str:
        lines = self._lines or tuple(self.text.splitlines())
        if not self._lines:
            object.__setattr__(self, "_lines", lines)
        if 1 <= number <= len(lines):
            return lines[number - 1]
        return ""

    def span(self, line: int, column: int, end_line: int | None = None, end_column: int | None = None) -> Span:
        return Span(self.path, line, column, end_line, end_column)


def offset_to_line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a character offset."""
    line = text.count("\n", 0, offset) + 1
    last_nl = text.rfind("\n", 0, offset)
    return line, offset - last_nl


def snippet(source: SourceFile | None, span: Span | None) -> str:
    """The source line of a span with a caret under the column (empty when there is nothing to show)."""
    if source is None or span is None or span.line < 1:
        return ""
    text = source.line(span.line).expandtabs(1)
    if not text.strip():
        return ""
    width = 1
    if span.end_line == span.line and span.end_column and span.end_column > span.column:
        width = span.end_column - span.column
    gutter = f"{span.line:>5} | "
    caret = " " * (len(gutter) + max(span.column - 1, 0)) + "^" * max(width, 1)
    return f"{gutter}{text}\n{caret}"
