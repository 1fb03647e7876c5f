"""Kernel lab: hold the fallback model against a real kernel under real memory pressure.

``mcstudy lab`` boots a Debian cloud kernel in QEMU (software emulation) into a busybox
initramfs, keeps the guest's zone in reclaim with anonymous-memory churn over zram swap,
runs a page-table workload of munmap gathers whose tables are known in advance, counts
with kprobe events what ``tlb_remove_table()`` does (batch-page attempts, failures,
``tlb_remove_table_one()`` fallbacks, the sync-IPI callback on the other vCPU), and
holds every measurement against the model's prediction in the probe's long format
(docs/lab.md). The guest's memory pressure is its own: the host is never pressured.

Modules: ``arch`` (guest architectures, cache directory), ``setup`` (system tools,
kernel and busybox packages, the compiled workload), ``initramfs``, ``qemu``,
``guestrun`` (one boot), ``console`` (artefacts on the console), ``guestdata`` (the
workload's windows and the trace, parsed), ``law`` (the law of fallbacks within a
gather), ``zone`` (the pressure model calibrated from the guest), ``checks`` (rows),
``dataset``, ``table``, ``section``, ``cli``.
"""
