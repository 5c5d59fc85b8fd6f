"""Test agent: take the task, then sleep well past the wall limit (never finish)."""

import time

import silo

silo.task()
time.sleep(120)
