"""Reports: one self-contained HTML (or PDF) file per output dataset.

* ``build``     - ``write_report``: dataset -> sections -> HTML or PDF, written atomically
* ``catalog``   - which section builders each kind of dataset gets, in order (found
  through the entry points of ``mcstudy.report_sections``)
* ``sections/`` - the builders (the answers, a model's headline, then the generic
  sections); ``sections/entries.py`` declares them
* ``answers``, ``answers_host``, ``answers_models`` - the answers first, as data
* ``figures``, ``render``, ``pdf`` - drawing and writing

The base the sections share with the probe and the lab (the document's blocks,
``ReportContext``, the estimates, convergence traces, exact curves, layout) is
``mcstudy.document``; number formats are ``mcstudy.fmt``.

To add a section for a model or a new kind of dataset, write a builder
``def build(ctx: ReportContext) -> list[Section]``, declare it with a ``SectionEntry``
and add an entry point to the group ``mcstudy.report_sections`` in ``pyproject.toml``.
"""
