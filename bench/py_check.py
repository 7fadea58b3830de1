#!/usr/bin/env python3
"""A plain Python peer for `tpbulk validate` on an OTAA CSV: csv module plus regular expressions.

Checks what validate checks for such a file, simply: DevEUI and JoinEUI 16 hex digits, AppKey 32 hex digits, Model and
Connection present, DevEUI not repeated. Prints the row and invalid counts. Usage: py_check.py FILE.csv
"""
import csv
import re
import sys

EUI = re.compile(r"[0-9A-Fa-f]{16}")
KEY = re.compile(r"[0-9A-Fa-f]{32}")


def main(path):
    rows = invalid = 0
    seen = set()
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader)]
        dev_eui, app_key = header.index("deveui"), header.index("appkey")
        join_eui = header.index("joineui") if "joineui" in header else None
        model, connection = header.index("model"), header.index("connection")
        for row in reader:
            rows += 1
            eui = row[dev_eui].replace(" ", "").replace("-", "").replace(":", "").upper()
            ok = (
                EUI.fullmatch(eui) is not None
                and KEY.fullmatch(row[app_key].strip()) is not None
                and (join_eui is None or not row[join_eui] or EUI.fullmatch(row[join_eui].strip()) is not None)
                and row[model].strip() != ""
                and row[connection].strip() != ""
                and eui not in seen
            )
            seen.add(eui)
            if not ok:
                invalid += 1
    print(f"{path}: {rows} rows, {rows - invalid} valid, {invalid} invalid")


if __name__ == "__main__":
    main(sys.argv[1])
