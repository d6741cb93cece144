"""Text for a terminal: box-drawn tables, and session text made safe to print.

A session holds what a model wrote; printed raw, its control characters and escape sequences
could drive the user's terminal. Everything a table shows goes through `printable`.
"""

from __future__ import annotations

import unicodedata

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_UNSAFE_CATEGORIES = ("Cc", "Cf", "Cs", "Zl", "Zp")
_ALLOWED_FORMAT = "\u200d"  # the zero-width joiner of emoji sequences


def printable(value: object) -> str:
    """`value` as one line of text with no control characters: non-strings as compact JSON."""
    if not isinstance(value, str):
        from mofa.jsontext import dumps  # exact numbers, any depth

        value = dumps(value, indent=None)
    if value.isprintable():
        return value
    out = []
    for char in value:
        if (
            char == " "
            or char == _ALLOWED_FORMAT
            or unicodedata.category(char) not in _UNSAFE_CATEGORIES
        ):
            out.append(char)
        elif char in _NAMED:
            out.append(_NAMED[char])
        elif ord(char) <= 0xFF:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(f"\\u{ord(char):04x}")
    return "".join(out)


def width(text: str) -> int:
    """Columns `text` takes in a terminal (wide East Asian characters take two; the colour
    codes of our own highlighting take none: `printable` escapes any that came from a file)."""
    if "\x1b" in text:
        import re

        text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    if text.isascii():
        return len(text)
    total = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        total += 2 if unicodedata.east_asian_width(char) in "WF" else 1
    return total


def truncate(text: str, columns: int, ellipsis: str = "...") -> str:
    """`text` cut to at most `columns` columns, ending in `ellipsis` when cut."""
    if width(text) <= columns:
        return text
    room = max(columns - len(ellipsis), 0)
    used = 0
    for position, char in enumerate(text):
        used += width(char)
        if used > room:
            return text[:position] + ellipsis
    return text


def _pad(text: str, columns: int) -> str:
    return text + " " * (columns - width(text))


def box_table(headers: list[str], rows: list[list[str]]) -> str:
    """A box-drawn table, as the reference page shows, cells already printable. A cell of
    several lines (`wrap`) makes its row as tall, the other cells blank below their first line."""
    widths = [width(h) for h in headers]
    for row in rows:
        for column, cell in enumerate(row):
            cell_width = max(map(width, cell.split("\n"))) if "\n" in cell else width(cell)
            if cell_width > widths[column]:
                widths[column] = cell_width

    def rule(left: str, middle: str, right: str) -> str:
        return left + middle.join("─" * (w + 2) for w in widths) + right

    def line(cells) -> str:
        return "│ " + " │ ".join(_pad(c, w) for c, w in zip(cells, widths, strict=True)) + " │"

    out = [rule("┌", "┬", "┐"), line(headers), rule("├", "┼", "┤")]
    for row in rows:
        if not any("\n" in cell for cell in row):
            out.append(line(row))
            continue
        stacked = [cell.split("\n") for cell in row]
        for depth in range(max(map(len, stacked))):
            out.append(line(cell[depth] if depth < len(cell) else "" for cell in stacked))
    out.append(rule("└", "┴", "┘"))
    return "\n".join(out)


def wrap(text: str, columns: int) -> str:
    """`text` wrapped to lines of at most `columns` columns, at spaces where it can, its own
    line breaks kept; each line printable (tabs become spaces, other controls escaped)."""
    columns = max(columns, 1)
    out: list[str] = []
    for paragraph in text.split("\n"):
        line = printable(paragraph.rstrip("\r").expandtabs(4))
        while width(line) > columns:
            cut = _cut(line, columns)
            space = line.rfind(" ", 0, cut + 1)
            if space > 0:
                out.append(line[:space].rstrip())
                line = line[space + 1 :]
            else:
                out.append(line[:cut])
                line = line[cut:]
        out.append(line)
    return "\n".join(out)


def _cut(text: str, columns: int) -> int:
    """How many characters of `text` fit in `columns` columns (at least one)."""
    used = 0
    for position, char in enumerate(text):
        used += width(char)
        if used > columns:
            return max(position, 1)
    return len(text)
