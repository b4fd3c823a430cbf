"""The store room: every configuration's samples, found by content, and the views onto them.

    entries.py     the result store: one entry per configuration fingerprint, appended chunk by chunk
    provenance.py  what a run's samples depend on (its key and fingerprint) and what reproduces it
    digest.py      content digests of checkpoint files, hashed once per file version
    root.py        the results root and its marker, so a run started inside it finds it
    verify.py      checking a whole store (`python -m t2m.report verify`)
    samples.py     what one stored sample record holds
    lock.py        an exclusive lock per configuration and per job directory that names its holder
    jobdir.py      a Hydra job directory: the human-readable view of one configuration's results,
                   and its row of the sweep table
"""
