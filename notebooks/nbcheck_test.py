"""Tests of nbcheck.py: python3 -m unittest discover -s notebooks -p '*_test.py'"""

import contextlib
import copy
import glob
import io
import json
import os
import unittest

import nbcheck

HERE = os.path.dirname(os.path.abspath(__file__))
# Real outputs of GoNB v0.11.1 (see the fixture's first cell for how it was made).
FIXTURE = os.path.join(HERE, "testdata", "gonb-errors.ipynb")


def failing_cells(nb):
    """1-based indices of the code cells nbcheck flags."""
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    return [i + 1 for i, c in enumerate(code) if nbcheck.cell_problems(c)]


class CheckTest(unittest.TestCase):
    def setUp(self):
        with open(FIXTURE, encoding="utf-8") as f:
            self.nb = json.load(f)

    def test_fixture_failures(self):
        # 3 compile error, 4 panic, 5 os.Exit(3), 6 `!false`, 7 failed `!*` command;
        # 2 writes a benign line to stderr and must pass.
        self.assertEqual(failing_cells(self.nb), [3, 4, 5, 6, 7])

    def test_kinds_reported(self):
        code = [c for c in self.nb["cells"] if c["cell_type"] == "code"]
        self.assertIn("cannot use", "\n".join(nbcheck.cell_problems(code[2])))  # compiler text, from the HTML report
        self.assertIn("panic: boom", "\n".join(nbcheck.cell_problems(code[3])))
        self.assertIn("exit status 3", "\n".join(nbcheck.cell_problems(code[4])))

    def test_exit_code(self):
        with contextlib.redirect_stdout(io.StringIO()) as out:
            self.assertEqual(nbcheck.main(["nbcheck", FIXTURE]), 1)
        self.assertIn("5 cell(s) with errors", out.getvalue())

    def test_clean_cells_pass(self):
        nb = copy.deepcopy(self.nb)
        nb["cells"] = [c for c in nb["cells"] if c["cell_type"] != "code" or not nbcheck.cell_problems(c)]
        self.assertEqual(len([c for c in nb["cells"] if c["cell_type"] == "code"]), 3)
        self.assertEqual(failing_cells(nb), [])

    def test_stream_text_as_one_string(self):
        cell = {"cell_type": "code", "outputs": [{"output_type": "stream", "name": "stderr", "text": "oops\nexit status 1\n"}]}
        self.assertEqual(len(nbcheck.cell_problems(cell)), 1)
        cell["outputs"][0]["name"] = "stdout"  # a program may print these words on stdout
        self.assertEqual(nbcheck.cell_problems(cell), [])

    def test_outputs_that_need_the_network(self):
        def html_cell(markup, mime="text/html"):
            return {"cell_type": "code", "outputs": [{"output_type": "display_data", "data": {mime: markup}, "metadata": {}}]}

        # What gonbui/plotly.DisplayFig emits: blank offline and in exported HTML.
        plotly = '<div id="c1"></div><script charset="utf-8" src="https://cdn.plot.ly/plotly-2.34.0.min.js"></script>'
        self.assertEqual(len(nbcheck.cell_problems(html_cell(plotly))), 1)
        self.assertEqual(len(nbcheck.cell_problems(html_cell("window.Plotly", "application/javascript"))), 1)
        self.assertEqual(len(nbcheck.cell_problems(html_cell('<img src="//example.com/a.png">'))), 1)
        # Inline SVG and data: images render anywhere.
        svg = '<div><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="5" height="5"/></svg></div>'
        self.assertEqual(nbcheck.cell_problems(html_cell(svg)), [])
        self.assertEqual(nbcheck.cell_problems(html_cell('<img src="data:image/png;base64,iVBORw0KGgo=">')), [])
        self.assertEqual(nbcheck.cell_problems(html_cell("iVBORw0KGgo=", "image/png")), [])

    def test_committed_notebooks_are_clean(self):
        # What is committed under notebooks/ carries the outputs of a full run: none may hold an error.
        for path in sorted(glob.glob(os.path.join(HERE, "*.ipynb"))):
            with self.subTest(notebook=os.path.basename(path)):
                with contextlib.redirect_stdout(io.StringIO()) as out:
                    self.assertEqual(nbcheck.check(path), 0, out.getvalue())


if __name__ == "__main__":
    unittest.main()
