"""python -m app.sheets INPUT OUTPUT [options]: convert a spreadsheet from the command line.

Exit status 0 on success, 2 with the reason on standard error otherwise.
"""

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from . import ENCODINGS, OUTPUT_FORMATS, Options, SheetError, convert, formats, inspect
from .options import JSON_STYLES, LINE_ENDINGS, QUOTING, SQL_DIALECTS
from .values import DATE_STYLES


def parser():
    p = argparse.ArgumentParser(
        prog="python -m app.sheets",
        description="Convert a spreadsheet (xlsx, xlsm, xltx, xlsb, xls, ods, csv, tsv) "
        f"to {', '.join(o.short for o in formats.OUTPUTS.values())}.",
    )
    p.add_argument("input", type=Path)
    p.add_argument("output", type=Path, nargs="?", help="omit with --inspect")
    p.add_argument("--format", choices=OUTPUT_FORMATS, help="default: OUTPUT's extension")
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--sheet", action="append", default=[], help="a sheet to convert (repeatable)"
    )
    which.add_argument("--all-sheets", action="store_true", help="every visible sheet")
    p.add_argument("--include-hidden", action="store_true", help="with --all-sheets")
    p.add_argument("--delimiter", default=",")
    p.add_argument("--quoting", choices=QUOTING, default="minimal")
    p.add_argument("--line-ending", choices=LINE_ENDINGS, default="crlf")
    p.add_argument("--encoding", choices=ENCODINGS, default="utf-8")
    p.add_argument("--skip-rows", type=int, default=0)
    p.add_argument("--no-header", action="store_true", help="the first row is data, not names")
    p.add_argument("--json-style", choices=JSON_STYLES, default="records")
    p.add_argument("--date-style", choices=DATE_STYLES, default="iso")
    p.add_argument("--fill-merged", action="store_true")
    p.add_argument("--protect-formulas", action="store_true")
    p.add_argument("--no-infer-types", action="store_true", help="text input: keep every cell text")
    p.add_argument(
        "--input-encoding",
        default="",
        metavar="ENCODING",
        help="text input: read it as this encoding (e.g. cp1252, cp1250); default: detected",
    )
    p.add_argument(
        "--decimal-separator",
        choices=[".", ","],
        default="",
        help="text input typed for xlsx/json: 47,91 is a number with ','; default: detected",
    )
    p.add_argument(
        "--date-order",
        choices=["dmy", "mdy", "ymd"],
        default="",
        help="text input typed for xlsx/json: how to read 02/03/2024; default: detected",
    )
    p.add_argument(
        "--full-precision",
        action="store_true",
        help="numbers with every digit stored (0.30000000000000004), not the 15 Excel shows",
    )
    p.add_argument(
        "--sql-dialect",
        choices=SQL_DIALECTS,
        default="sqlite",
        help="sql: the database the statements are written for",
    )
    p.add_argument(
        "--no-keep-formats",
        action="store_true",
        help="xlsx: values only, without the input's number formats, widths and frozen header",
    )
    p.add_argument(
        "--as-displayed",
        action="store_true",
        help="text outputs: numbers and dates as their number formats show them "
        "(14.74%%, $1,234.50, 02.03.2024), not their values",
    )
    p.add_argument("--inspect", action="store_true", help="print what INPUT holds, as JSON")
    return p


def output_format(args):
    if args.format:
        return args.format
    found = formats.by_extension(args.output.suffix.lstrip("."))
    if found:
        return found.name
    raise SheetError(f"Cannot tell the output format from '{args.output.name}': use --format.")


def main(argv=None):
    args = parser().parse_args(argv)
    if not args.input.is_file():
        print(f"error: no such file: {args.input}", file=sys.stderr)
        return 2
    try:
        if args.inspect:
            info = inspect(args.input, isolate=True, input_encoding=args.input_encoding or None)
            print(json.dumps(asdict(info), indent=2, ensure_ascii=False))
            return 0
        if args.output is None:
            raise SheetError("Give an OUTPUT file (or --inspect).")
        options = Options(
            format=output_format(args),
            sheets=args.sheet,
            all_sheets=args.all_sheets,
            include_hidden=args.include_hidden,
            delimiter=args.delimiter.replace("\\t", "\t"),
            quoting=args.quoting,
            line_ending=args.line_ending,
            encoding=args.encoding,
            skip_rows=args.skip_rows,
            header=not args.no_header,
            json_style=args.json_style,
            date_style=args.date_style,
            fill_merged=args.fill_merged,
            protect_formulas=args.protect_formulas,
            infer_types=not args.no_infer_types,
            input_encoding=args.input_encoding,
            decimal_separator=args.decimal_separator,
            date_order=args.date_order,
            full_precision=args.full_precision,
            sql_dialect=args.sql_dialect,
            keep_formats=not args.no_keep_formats,
            as_displayed=args.as_displayed,
        )
        result = convert(args.input, args.output, options, isolate=True)
    except SheetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(
        f"{result.rows} rows, {result.cells} cells, sheets: {', '.join(result.sheets)}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
