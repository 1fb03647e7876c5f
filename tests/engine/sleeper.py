"""A child for tests/engine/test_beside.py: watches its parent, then sleeps."""

import time

from mcstudy.engine.beside import watch_parent

if __name__ == "__main__":
    watch_parent(every_s=0.1)
    time.sleep(60)
