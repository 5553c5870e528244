"""Limits that keep hostile or runaway files from exhausting the machine."""

from dataclasses import dataclass

GiB = 1024**3
MiB = 1024**2


@dataclass(frozen=True)
class Limits:
    max_unpacked_bytes: int = 2 * GiB  # total uncompressed size of a zip container
    max_compression_ratio: int = 200  # per member larger than ratio_floor_bytes
    ratio_floor_bytes: int = 4 * MiB
    max_cells: int = 60_000_000  # rows x columns of one sheet, anchored at A1
    max_sheets: int = 1_000
    max_columns: int = 16_384  # Excel's own limit (XFD)
    max_text_length: int = 1_000_000  # characters in one cell of a text file
    max_seconds: float = 900.0  # one conversion
    stream_above_bytes: int = 48 * MiB  # xlsx sheets whose XML is larger stream row by row
    # xlsx sheets whose XML is larger go to CSV by the columnar fast path (columnar.py);
    # below this, importing pyarrow costs more than the fast path saves.
    columnar_above_bytes: int = 8 * MiB
    # Streamed xlsx sheets go to CSV/TSV in blocks of about this much XML (blocks.py);
    # 0: row by row, by the streaming reader.
    block_bytes: int = 1 * MiB
    # Every other block read by a forked helper process (blocks.wants_helper). None: when
    # another core is idle now and the shared text table is small; True/False: always/never.
    # A spare core makes it faster; on a busy machine it is slower (docs/benchmarks.md).
    block_helper: bool | None = None
    max_memory_bytes: int = 4 * GiB  # address space of an isolated child (sandbox.py)
    # What one conversion may write: this many times the input file's size, and never less
    # than output_floor_bytes. A small file whose cells repeat one long text (a shared
    # string, an ods cell repeated) would otherwise fill the disk (convert.OutputBudget).
    max_output_ratio: int = 200
    output_floor_bytes: int = 256 * MiB
    # The inputs read whole into memory (HTML tables) hold at most this many cells, and a
    # table's grid (rows x columns, spans included) is at most this large.
    max_held_cells: int = 5_000_000
    # A JSON value that becomes one row (a record, a list of cells, a line of JSON Lines) is
    # decoded whole: at most this many characters of one are held.
    max_record_chars: int = 16 * MiB
    max_merges: int = 1_000_000  # merged ranges one file may state (SpreadsheetML, HTML)


DEFAULT_LIMITS = Limits()


# The largest sheet Excel and LibreOffice hold, and the most characters a cell holds.
SHEET_ROWS = 1_048_576
SHEET_COLUMNS = 16_384
CELL_TEXT = 32_767


def file_count(text, least=1, most=SHEET_ROWS, default=1):
    """A count or a position a file states (a repeat, a row number), clamped to
    [least, most]. Whatever is not plain digits counts as `default`, and digits are
    never turned into an int beyond `most`: a 5,000-digit number would stop Python's
    int() and a huge one would make a repeat or a string ask for all memory."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    text = str(text).strip().lstrip("+").lstrip("0") or ("0" if text else "")
    if not text.isascii() or not text.isdigit():
        return min(max(default, least), most)
    if len(text) > len(str(most)):
        return most
    return min(max(int(text), least), most)
