"""Section builders of the report (listed per dataset kind in ``mcstudy.report.catalog``)."""
