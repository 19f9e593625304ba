"""Reading an uploaded spreadsheet: what kind of file it really is, its encoding and delimiter,
then its rows one at a time (a 100,000-row file is never held in memory whole)."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.utils.translation import gettext as _

from otdel.core.errors import Invalid

# Magic numbers of things people rename to .xlsx or .csv by mistake.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF8", "GIF"),
    (b"%PDF", "PDF"),
    (b"\xd0\xcf\x11\xe0", "old Excel (.xls) or Word"),
    (b"Rar!", "RAR"),
    (b"\x1f\x8b", "gzip"),
    (b"7z\xbc\xaf", "7-Zip"),
)
_SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class FileFormat:
    """What a file turned out to be: "csv" (with encoding and delimiter) or "xlsx"."""

    kind: str
    encoding: str = ""
    delimiter: str = ""


def cell_text(value: Any) -> str:
    """A spreadsheet cell as the text a person typed: 7707083893.0 → "7707083893"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value).strip()


def _refuse_binary(head: bytes, filename: str) -> None:
    for magic, label in _SIGNATURES:
        if head.startswith(magic):
            if label.startswith("old Excel"):
                raise Invalid(
                    _(
                        "%(file)s is in the old Excel format (.xls). Save it as .xlsx or CSV "
                        "and upload it again."
                    )
                    % {"file": filename},
                    code="import_old_xls",
                )
            raise Invalid(
                _(
                    "%(file)s is not a spreadsheet: it is a %(kind)s file. Upload an .xlsx "
                    "workbook or a CSV file."
                )
                % {"file": filename, "kind": label},
                code="import_not_spreadsheet",
            )


def _detect_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) when every byte decodes as UTF-8, otherwise Windows-1251."""
    with path.open("rb") as f:
        if f.read(3) == codecs.BOM_UTF8:
            return "utf-8-sig"
        f.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := f.read(1024 * 1024):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1251"
    return "utf-8"


def _detect_delimiter(sample: str) -> str:
    """`;` (Russian Excel) or `,`, whichever splits the first lines consistently."""
    lines = [line for line in sample.splitlines()[:20] if line.strip()]
    if not lines:
        return ";"
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=";,\t").delimiter
    except csv.Error:
        header = lines[0]
        counts = {d: header.count(d) for d in (";", ",", "\t")}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ";"


def sniff(path: Path, filename: str) -> FileFormat:
    """Find out what the file is; refuse anything that is not an XLSX workbook or a text table."""
    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
    if not head.strip():
        raise Invalid(_("%(file)s is empty.") % {"file": filename}, code="import_empty")
    _refuse_binary(head, filename)
    suffix = Path(filename).suffix.lower()
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = set(zf.namelist())
        except zipfile.BadZipFile:
            names = set()
        if "xl/workbook.xml" not in names:
            raise Invalid(
                _("%(file)s is a ZIP archive, not an Excel workbook.") % {"file": filename},
                code="import_not_spreadsheet",
            )
        return FileFormat("xlsx")
    if suffix in (".xlsx", ".xlsm"):
        raise Invalid(
            _(
                "%(file)s is named like an Excel workbook but is not one. Open it in Excel "
                "and save it as .xlsx, or export a CSV file."
            )
            % {"file": filename},
            code="import_not_spreadsheet",
        )
    if b"\x00" in head:
        raise Invalid(
            _("%(file)s is not a spreadsheet: it contains binary data.") % {"file": filename},
            code="import_not_spreadsheet",
        )
    encoding = _detect_encoding(path)
    text = head.decode(encoding, errors="ignore")
    return FileFormat("csv", encoding=encoding, delimiter=_detect_delimiter(text))


@dataclass
class Table:
    """The header row and a stream of (row number, cells) as a person sees them in Excel."""

    headers: list[str]
    rows: Iterator[tuple[int, list[str]]]


def _csv_rows(reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
    for number, row in enumerate(reader, start=2):
        cells = [c.strip() for c in row]
        if any(cells):
            yield number, cells


def _xlsx_rows(rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[int, list[str]]]:
    for number, values in enumerate(rows, start=2):
        cells = [cell_text(v) for v in values]
        if any(cells):
            yield number, cells


@contextmanager
def open_table(path: Path, fmt: FileFormat, filename: str) -> Iterator[Table]:
    """Open the file and stream its rows; the first non-empty row is the header."""
    if fmt.kind == "xlsx":
        import openpyxl

        try:
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception:  # openpyxl raises many kinds on a damaged workbook
            raise Invalid(
                _("%(file)s could not be read as an Excel workbook: it is damaged.")
                % {"file": filename},
                code="import_damaged",
            ) from None
        try:
            ws = wb.worksheets[0]
            values = ws.iter_rows(values_only=True)
            header = next(values, None)
            yield Table(
                headers=[cell_text(v) for v in header or ()],
                rows=_xlsx_rows(values),
            )
        finally:
            wb.close()
        return
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding=fmt.encoding, newline="", errors="replace")
        reader = csv.reader(text, delimiter=fmt.delimiter)
        header_row = next(reader, None)
        yield Table(headers=[c.strip() for c in header_row or []], rows=_csv_rows(reader))
