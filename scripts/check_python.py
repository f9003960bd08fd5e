"""Stop with a clear message unless this interpreter is Python 3.11 or newer.

The Makefile runs it with $(PYTHON) before it creates the virtualenv, so it must itself run
on any old Python to say so: no f-strings, no annotations, nothing newer than Python 2.7.
"""

import sys

REQUIRED = (3, 11)
MESSAGE = (
    "Python {wanted} or newer is needed (found {found} at {executable}): "
    "set PYTHON=python{wanted}, e.g. `make run PYTHON=python{wanted}`"
)


def problem(version_info, executable):
    """The message for an interpreter too old for the project, or None when it will do."""
    if tuple(version_info[:2]) >= REQUIRED:
        return None
    return MESSAGE.format(
        wanted=".".join(str(part) for part in REQUIRED),
        found=".".join(str(part) for part in version_info[:2]),
        executable=executable,
    )


def main():
    message = problem(sys.version_info, sys.executable)
    if message:
        sys.stderr.write("error: " + message + "\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
