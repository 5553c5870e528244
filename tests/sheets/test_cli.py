"""python -m app.sheets: exit codes and messages."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from .books import write_text

ROOT = Path(__file__).resolve().parents[2]


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "app.sheets", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_convert_takes_format_from_extension(tmp_path, mixed_xlsx):
    result = run(mixed_xlsx, tmp_path / "out.json", "--sheet", "Other")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "out.json").read_text()) == [{"x": 1}]
    assert "2 rows" in result.stderr


def test_all_sheets_with_options(tmp_path, mixed_xlsx):
    out = tmp_path / "out.zip"
    result = run(mixed_xlsx, out, "--all-sheets", "--format", "tsv", "--line-ending", "lf")
    assert result.returncode == 0, result.stderr
    assert out.read_bytes().startswith(b"PK")


def test_inspect(mixed_xlsx):
    result = run("--inspect", mixed_xlsx)
    assert result.returncode == 0
    info = json.loads(result.stdout)
    assert info["format"] == "xlsx" and [s["name"] for s in info["sheets"]] == ["Data", "Other"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["{tmp}/missing.xlsx", "{tmp}/o.csv"], "no such file"),
        (["{tmp}/pdf.xlsx", "{tmp}/o.csv"], "This file is a PDF document, not a spreadsheet."),
        (["{book}", "{tmp}/o.txt"], "Cannot tell the output format from 'o.txt'"),
        (["{book}", "{tmp}/o.csv", "--sheet", "Nope"], "no sheet named 'Nope'"),
        (["{book}", "{tmp}/o.csv", "--delimiter", ";;"], "The delimiter must be one character"),
        (["{book}"], "Give an OUTPUT file"),
    ],
)
def test_errors_exit_2_with_message(tmp_path, mixed_xlsx, args, message):
    write_text(tmp_path / "pdf.xlsx", "%PDF-1.4 not really")
    args = [a.format(tmp=tmp_path, book=mixed_xlsx) for a in args]
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o.csv").exists()


def test_engine_imports_nothing_from_flask():
    for source in (ROOT / "app" / "sheets").glob("*.py"):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
                if node.level >= 2:  # from .. import: outside the engine
                    names.append("..")
            for name in names:
                assert not name.startswith(("flask", "werkzeug", "..")), (
                    f"{source.name} imports {name}"
                )


def test_text_input_options(tmp_path):
    source = tmp_path / "ventes.csv"
    source.write_bytes("nom;montant;jour\nJiří;47,91;02/03/2024\n".encode("cp1250"))
    result = run("--inspect", source, "--input-encoding", "cp1250")
    info = json.loads(result.stdout)
    assert info["encoding"] == "cp1250" and info["sheets"][0]["name"] == "ventes"
    assert (info["decimal_separator"], info["date_order"]) == (",", "dmy")
    out = tmp_path / "o.json"
    args = ["--sheet", "ventes", "--input-encoding", "cp1250", "--json-style", "rows"]
    result = run(source, out, *args, "--date-order", "mdy")
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())[1] == ["Jiří", 47.91, "2024-02-03"]
    result = run(source, out, *args, "--decimal-separator", ".")
    assert json.loads(out.read_text())[1] == ["Jiří", "47,91", "2024-03-02"]
    result = run(source, out, "--input-encoding", "rot13")
    assert result.returncode == 2 and "Unknown encoding to read the file as" in result.stderr


def test_full_precision(tmp_path):
    import xlsxwriter

    book = tmp_path / "n.xlsx"
    workbook = xlsxwriter.Workbook(str(book))
    workbook.add_worksheet("S").write_number(0, 0, 1 / 3)
    workbook.close()
    assert run(book, tmp_path / "a.csv").returncode == 0
    assert (tmp_path / "a.csv").read_bytes() == b"0.333333333333333\r\n"
    assert run(book, tmp_path / "b.csv", "--full-precision").returncode == 0
    assert (tmp_path / "b.csv").read_bytes() == b"0.3333333333333333\r\n"
