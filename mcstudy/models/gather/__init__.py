"""The gather model: ``tlb_remove_table()`` fallbacks in one mmu_gather (``docs/model.md`` §3)."""
