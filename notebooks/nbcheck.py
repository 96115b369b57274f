#!/usr/bin/env python3
"""Fail if an executed GoNB notebook holds an error in any cell.

nbconvert only notices the errors the kernel reports as such. GoNB (v0.11.1)
reports a compile error that way (an "error" output, plus an HTML report),
but a Go panic, a non-zero os.Exit, a killed cell program or a failed `!`/`!*`
shell command only print to the cell's stderr, ending with the line
"exit status N" (or "signal: ..."), and the cell still counts as a success.
This checker reads the executed .ipynb and catches all of these.

It also rejects outputs that cannot render offline or in the exported HTML:
JavaScript outputs and HTML with scripts or network images (GoNB's Plotly
loads plotly.js from a CDN: blank charts). Charts must be inline SVG.

Usage: nbcheck.py NOTEBOOK.ipynb...   (exit 0: clean, 1: errors, 2: bad input)
Only the standard library is used.
"""

import html
import json
import re
import sys

# Lines GoNB writes to a cell's stderr when a cell program or shell command
# fails (jpyexec: the error of exec.Cmd.Wait), and Go's own crash headers.
FAILURE_LINE = re.compile(
    r"^(?:\^C\n)?(?:exit status \d+|signal: [\w ]+|panic: .*|fatal error: .*)$", re.M
)
# Class names of GoNB's HTML error report (compile errors, `go get` failures).
GONB_ERROR_HTML = re.compile(r'gonb-err-location')
# HTML that needs JavaScript or the network to render.
ONLINE_HTML = re.compile(r"<script\b|\bsrc\s*=\s*[\"']?(?:https?:)?//", re.I)
ANSI = re.compile(r"\x1b\[[0-9;]*m")
TAG = re.compile(r"<[^>]+>")


def text(value):
    """Joins nbformat's multi-line strings (a list of lines, or one string)."""
    return "".join(value) if isinstance(value, list) else (value or "")


def html_to_text(markup):
    markup = re.sub(r"(?is)<(style|script)\b.*?</\1>", "", markup)
    lines = (html.unescape(TAG.sub("", ln)).rstrip() for ln in markup.splitlines())
    return "\n".join(ln for ln in lines if ln.strip())


def cell_problems(cell):
    """Returns one string per problem found in a code cell's outputs."""
    problems = []
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "error":
            tb = ANSI.sub("", "\n".join(out.get("traceback") or []))
            problems.append(
                "error output: %s: %s%s"
                % (out.get("ename"), out.get("evalue"), "\n" + tb if tb and tb != out.get("evalue") else "")
            )
        elif kind == "stream" and out.get("name") == "stderr":
            body = ANSI.sub("", text(out.get("text")))
            if FAILURE_LINE.search(body):
                problems.append("stderr:\n" + body.rstrip())
        elif kind in ("display_data", "execute_result"):
            data = out.get("data", {})
            markup = text(data.get("text/html"))
            if GONB_ERROR_HTML.search(markup):
                problems.append("GoNB error report:\n" + html_to_text(markup))
            elif "application/javascript" in data or ONLINE_HTML.search(markup):
                m = ONLINE_HTML.search(markup)
                problems.append(
                    "output needs JavaScript or the network to render (blank offline and in the HTML export;"
                    " draw charts as inline SVG): %s" % (markup[max(0, m.start() - 40):m.end() + 60] if m else "application/javascript")
                )
    return problems


def check(path):
    """Prints the problems of one notebook; returns their count (or -1 for bad input)."""
    try:
        with open(path, encoding="utf-8") as f:
            nb = json.load(f)
    except (OSError, ValueError) as e:
        print("%s: cannot read notebook: %s" % (path, e), file=sys.stderr)
        return -1
    failed = 0
    code_index = 0
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        code_index += 1
        problems = cell_problems(cell)
        if not problems:
            continue
        failed += 1
        first = next((ln for ln in text(cell.get("source")).splitlines() if ln.strip()), "")
        print("%s: code cell %d [%s] failed: %s" % (path, code_index, cell.get("execution_count"), first[:80]))
        for p in problems:
            print("    " + p.replace("\n", "\n    "))
    return failed


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    status = 0
    for path in argv[1:]:
        n = check(path)
        if n < 0:
            status = max(status, 2)
        elif n > 0:
            print("%s: %d cell(s) with errors" % (path, n))
            status = max(status, 1)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
