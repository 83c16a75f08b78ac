"""source/: what a user wrote, read safely and pointed at precisely. Shared by the inventory
and the playbook language; imports neither.

    files.py     bounded file reading: regular files only, a size limit, UTF-8, not binary
    yamlpos.py   YAML with the line and column of every key and value, hostile input refused
    problems.py  problems as `file:line:column: key.path: message`, collected, then raised
                 as one ConfigError
    ints.py      how long an integer may be (Python's int<->str limit)
"""
