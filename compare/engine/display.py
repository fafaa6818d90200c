"""How a Report draws itself in Jupyter (`Report._repr_html_`, compare/engine/report.py).

The engine imports no view (tests/test_architecture.py), so the drawing function is set from above:
compare/__init__.py, which every import of this package runs first, puts here a function that
imports compare/views/notebook.py when a report is drawn. This module imports nothing, so that
`import compare` stays light.

Left out: any other format (the JSON report is `Report.to_json`, the terminal's text compare/views).
"""
html_view = None    # report -> HTML (str); None: Jupyter shows the text repr
