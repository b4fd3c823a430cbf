"""The checks room: everything that stops a mistake before a model loads or a file is written.

    validate.py    config values, keys and groups (one line, exit status 2)
    preflight.py   checks that read files or the network: directories, dataset, model, lengths
    resolvers.py   OmegaConf resolvers that let the YAML read facts from the code that owns them
    composed.py    job configs composed (and checked) once per sweep, reused by the launcher
"""
