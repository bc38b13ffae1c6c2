#!/usr/bin/env python3
"""check_schema.py SCHEMA JSONFILE [PYTHON-EXPR]: validates JSONFILE (one JSON object,
the --json output of a scratchproof command) against the JSON Schema draft 2020-12 file
SCHEMA (docs/schemas/*.json) with Debian's python3-jsonschema, after checking the schema
itself; then, when given, evaluates PYTHON-EXPR with d bound to the object and fails
unless it is true. Exit 0 valid, 1 not, printing why."""
import json
import sys

import jsonschema


def main():
    schema = json.load(open(sys.argv[1]))
    jsonschema.Draft202012Validator.check_schema(schema)
    text = open(sys.argv[2]).read()
    d = json.loads(text)   # exactly one object: trailing text is an error here
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(d), key=lambda e: list(e.path))
    for e in errors[:5]:
        print("%s: at %s: %s" % (sys.argv[2], "/".join(map(str, e.path)) or "(top)", e.message[:300]))
    if errors:
        return 1
    if len(sys.argv) > 3 and not eval("(" + sys.argv[3] + "\n)", {"d": d}):   # may span lines
        print("%s: valid, but not: %s" % (sys.argv[2], sys.argv[3]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
