"""The THP model: deposited page tables and IPIs at isolated CPUs (``docs/model.md`` §5)."""
