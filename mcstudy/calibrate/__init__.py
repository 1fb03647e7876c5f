"""``mcstudy calibrate``: pressure-model parameters from a machine's /proc files.

Modules: ``calibration`` (zone choice, comparison with the kernel's watermark formulas,
vmstat rates), ``sysctl`` (reads of ``/proc/sys/vm``), ``fragment`` (the ``[params]``
TOML fragment, its atomic write, and the text report), ``cli`` (the click command).
"""
