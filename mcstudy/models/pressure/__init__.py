"""The zone pressure model: when GFP_NOWAIT batch pages fail (``docs/model.md`` §4)."""
