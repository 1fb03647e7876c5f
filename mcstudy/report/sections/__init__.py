"""Section builders of the report (see ``mcstudy.report.registry``)."""
