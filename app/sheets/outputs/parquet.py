"""Parquet: one file per sheet (several sheets: a zip), its columns typed from every cell
(integers, floats, booleans, dates, timestamps, times, durations, text), a column of mixed
types as the text the CSV output writes, empty cells as nulls. Columns are named from the
header as the json output's keys are. The rows are written in row groups, so memory
holds one group's Arrow columns at most."""

from ..values import text_batch_formatter
from . import Spool, column_kinds, column_names, column_type, folder_of

ROW_GROUP_ROWS = 50_000  # rows a row group holds at most...
ROW_GROUP_BYTES = 32 * 2**20  # ...and bytes of Arrow data: long texts make small groups


def arrow_types():
    import pyarrow as pa  # here: other conversions need not load it

    return {
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "date": pa.date32(),
        "datetime": pa.timestamp("us"),
        "time": pa.time64("us"),
        "duration": pa.duration("us"),
        "text": pa.string(),
    }


def nulls_for_empty(column):
    return [None if value == "" else value for value in column]


def ints(column):
    return [None if value == "" else int(value) for value in column]


def floats(column):
    return [None if value == "" else float(value) for value in column]


def texts(column):
    return [
        None if value == "" else (value if type(value) is str else str(value)) for value in column
    ]


VALUES = {"int": ints, "float": floats, "text": texts}


class ParquetSheetWriter:
    """One sheet as a Parquet file on a binary handle."""

    def __init__(self, binary, options, sheet_name):
        self.binary = binary
        self.header = options.header
        self.format_batch = text_batch_formatter(options.date_style, False, options.full_precision)

    def write_batches(self, batches):
        import pyarrow as pa
        import pyarrow.parquet as pq

        # The schema is fixed before the first row group: the rows wait on disk until
        # every cell has told its column's type.
        spool = Spool(folder_of(self.binary))
        try:
            header_row, kinds, width = None, [], 0
            for _, batch in batches:
                if header_row is None and self.header:
                    header_row, batch = batch[0], batch[1:]
                    width = len(header_row)
                if batch:
                    width = max(width, column_kinds(batch, kinds))
                    spool.add(batch)
            types = [column_type(found) for found in kinds] + ["text"] * (width - len(kinds))
            arrow = arrow_types()
            names = column_names(header_row or [], width, self.header)
            schema = pa.schema([pa.field(n, arrow[t]) for n, t in zip(names, types, strict=True)])
            text_columns = [index for index, kind in enumerate(types) if kind == "text"]
            sink = pa.PythonFile(self.binary, mode="w")
            # Snappy, pyarrow's and pandas' default: every Parquet reader has it.
            with pq.ParquetWriter(sink, schema, compression="snappy") as writer:
                waiting, rows, size = [], 0, 0
                for batch in spool:
                    record = self.record_batch(batch, types, text_columns, schema)
                    waiting.append(record)
                    rows, size = rows + record.num_rows, size + record.nbytes
                    if rows >= ROW_GROUP_ROWS or size >= ROW_GROUP_BYTES:
                        writer.write_table(pa.Table.from_batches(waiting, schema), rows)
                        waiting, rows, size = [], 0, 0
                if waiting:
                    writer.write_table(pa.Table.from_batches(waiting, schema), rows)
        finally:
            spool.close()

    def record_batch(self, batch, types, text_columns, schema):
        import pyarrow as pa

        width = len(types)
        if any(len(row) != width for row in batch):
            batch = [row + [""] * (width - len(row)) for row in batch]
        columns = list(zip(*batch, strict=True)) if width else []
        if text_columns:  # the text the CSV writes, for columns of text or mixed types
            formatted = list(zip(*self.format_batch(batch), strict=True))
            for index in text_columns:
                columns[index] = formatted[index]
        arrays = [
            pa.array(VALUES.get(kind, nulls_for_empty)(column), type=field.type)
            for kind, column, field in zip(types, columns, schema, strict=True)
        ]
        if not width:
            return pa.RecordBatch.from_pydict({}, schema=schema)
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    def close(self):
        pass
