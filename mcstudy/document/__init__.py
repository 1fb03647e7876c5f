"""The report's base: what a report section is made of and sees, below the packages that
draw sections (``mcstudy.report``, ``mcstudy.probe``, ``mcstudy.lab``), so none of them
imports another to draw one.

* ``blocks``      - the document as plain data: paragraphs, bullets, tables, figures
* ``context``     - ``ReportContext`` (what a builder sees) and ``SectionEntry`` (how a
  builder is declared for the entry-point group ``mcstudy.report_sections``)
* ``variables``   - the dataset's estimates, read from their declarations; exact checks
* ``convergence``, ``curves``, ``layout`` - convergence traces, exact curves, figure layout
* ``answers``     - the answers of a dataset as data
* ``checks``      - the measured-vs-predicted rows of the probe and the lab: table,
  verdict lines and report section
"""
