"""Excel workbooks on the driver (small files only, `reader.xlsx_max_bytes`): the first sheet's
header and its cells as the text a CSV export would hold. Spark reads the rows in `readers`."""
from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path
from typing import Iterator

from greenlink.bronze.layout import FileProblem
from greenlink.core.printable import printable


def open_first_sheet(path: Path, rel: str) -> tuple[object, Iterator[tuple]]:
    """(workbook, iterator of row value tuples) of the first sheet; close the workbook after use."""
    import openpyxl  # local: only .xlsx inputs need it

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - any reader error means "not an .xlsx workbook"
        first = (str(exc).splitlines() or [""])[0]
        raise FileProblem(rel, "unreadable_xlsx",
                          f"not a readable .xlsx workbook ({type(exc).__name__}: {printable(first)})") from None
    if not wb.worksheets:
        wb.close()
        raise FileProblem(rel, "unreadable_xlsx", "the workbook has no sheet")
    return wb, wb.worksheets[0].iter_rows(values_only=True)


def cell_text(value: object) -> str | None:
    """A cell as the text a CSV export would hold: dates ISO, whole numbers without `.0`."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d") if value.time() == time() else value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return text if text != "" else None


def xlsx_header(path: Path, rel: str, max_bytes: int) -> tuple[str, ...]:
    size = path.stat().st_size
    if size > max_bytes:
        raise FileProblem(rel, "file_too_large", f"{size:,} bytes is too big for the driver-side Excel reader "
                        f"(limit {max_bytes:,}, conf/headers.yaml reader.xlsx_max_bytes); convert it to CSV")
    wb, rows = open_first_sheet(path, rel)
    try:
        first = next(rows, ())
    finally:
        wb.close()
    headers = ["" if v is None else str(v) for v in first]
    while headers and not headers[-1].strip():      # empty cells right of the header are not columns
        headers.pop()
    return tuple(headers)
