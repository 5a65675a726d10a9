"""A small program for the generation timeline in the README:

    python -m memprobe timeline --lengths -o docs/timeline.svg docs/timeline_demo.py

Bursts of short-lived cycles (young collections free them), a cache that
survives into the older generations, a freeze, then a full collection.
"""
import gc


class Node:
    def __init__(self, payload):
        self.me = self          # a cycle: only the collector frees it
        self.payload = payload


cache = []
for burst in range(6):
    for i in range(4000):
        Node(i)                 # garbage at once
    cache.extend(Node(i) for i in range(1500))   # survives
gc.freeze()                     # the cache so far moves to the permanent generation
for i in range(6000):
    Node(i)
gc.collect()
