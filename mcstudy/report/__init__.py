"""Reports: one self-contained HTML (or PDF) file per output dataset.

* ``build``     - ``write_report``: dataset -> sections -> HTML or PDF, written atomically
* ``catalog``   - which section builders each kind of dataset gets, in order
* ``context``   - ``ReportContext``, what every builder sees
* ``sections/`` - the builders (a model's headline answers, then the generic sections)
* ``variables`` - the dataset's estimates (read from their declarations) and exact checks
* ``figures``, ``document``, ``render``, ``pdf``, ``layout``, ``fmt`` - drawing and writing

To add a section for a model or a new kind of dataset, write a builder
``def build(ctx: ReportContext) -> list[Section]`` in ``mcstudy/report/sections/`` and
list it for its kind in ``mcstudy.report.catalog.BUILTIN``.
"""
