"""Results on disk, one module per job.

* ``atomic``     - atomic file writes (temporary file, fsync, rename)
* ``checked``    - JSON files with a SHA-256 header
* ``points``     - the per-point record (values, tallies, provenance): encode, decode, verify
* ``version``    - the code version that a model's results depend on
* ``rundir``     - the run directory: study.json, points/, quarantine/, scanning
* ``manifest``   - the manifest (status, seed, timings, host of every point)
* ``dataset``    - the netCDF dataset: build (with the models' declarations), write, open
* ``assemble``   - point records -> the final dataset (``point_status``, provenance)
* ``provenance`` - environment facts recorded with every result
* ``errors``     - errors of damaged or foreign files and run directories
"""
