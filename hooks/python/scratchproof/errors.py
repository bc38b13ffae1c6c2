"""errors.py - the exceptions of the scratchproof package.

Every failure is an ``Error`` carrying the C error code (``code``, a negative SP_E*
number, or 0 for a check made in Python before calling C), its name (``name``,
e.g. "SP_EBUSY") and one line saying what went wrong. Subclasses also derive from
the built-in exception a Python user would expect, so ``except ValueError`` works:

  TensorError(Error, ValueError)   a tensor the hook cannot hash in place: not on
                                   the CPU, not contiguous, an unsupported dtype
  StateError(Error, RuntimeError)  a closed run, calls out of order, a run made
                                   unusable by an earlier failure (SP_EBADSTATE)
  BusyError(Error)                 the ledger is being written by another process,
                                   or is already open in this one (SP_EBUSY)
  KeyFileError(Error)              the signing key is missing, unreadable, of the
                                   wrong kind or too widely readable (SP_EKEY)
"""
from . import _lib

_NAMES = {v: k for k, v in vars(_lib).items() if k.startswith("SP_E") and isinstance(v, int)}
_NAMES[0] = "SP_OK"


class Error(Exception):
    """A scratchproof failure: code (SP_E* number), name and message."""

    def __init__(self, code, message):
        self.code = code
        self.name = _NAMES.get(code, "SP_E?")
        self.message = message
        super().__init__(message)


class TensorError(Error, ValueError):
    """A tensor that cannot be hashed or filled in place."""


class StateError(Error, RuntimeError):
    """The run is closed, unusable, or the call is out of order."""


class BusyError(Error):
    """The ledger is held by another writer."""


class KeyFileError(Error):
    """The signing key file is missing or unusable."""


_CLASSES = {_lib.SP_EBADSTATE: StateError, _lib.SP_EBUSY: BusyError,
            _lib.SP_EKEY: KeyFileError, _lib.SP_EUNSUPPORTED: TensorError}


def from_code(rc, what, detail=""):
    """The exception for C return code rc: '<what>: <sp_strerror>[: <detail>]'."""
    msg = "%s: %s" % (what, _lib.strerror(rc))
    if detail:
        msg += ": " + detail
    return _CLASSES.get(rc, Error)(rc, msg)
