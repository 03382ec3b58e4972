"""Reading pickles of NumPy arrays from user files without running code.

``pickle.load`` calls whatever a file names, so a crafted file runs code as soon as it is read.
:func:`load_array_pickle` builds only NumPy arrays, NumPy scalars and plain containers (dict,
list, tuple, OrderedDict) and refuses any other object, naming the file.
"""
import pickle

__all__ = ["ArrayOnlyUnpickler", "load_array_pickle"]

# The globals a pickle of arrays needs: array reconstruction (protocols 2-4 via _reconstruct,
# protocol 5 via _frombuffer), dtypes, scalars, and the latin-1 bytes of protocol-2 arrays.
_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"),
    ("_codecs", "encode"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
}


class ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickler that builds NumPy arrays and containers and refuses any other object."""

    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a data file may hold only arrays and "
                                     f"plain containers")


def load_array_pickle(path: str, hint: str = ""):
    """The object pickled in ``path`` (arrays and containers only); ValueError naming the file when it
    is missing, truncated, not a pickle, or holds any other object (``hint`` says what the file should be)."""
    try:
        with open(path, "rb") as handle:
            return ArrayOnlyUnpickler(handle, encoding="latin1").load()
    except OSError as err:
        raise ValueError(f"cannot read {path}: {err.strerror or err}") from err
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError, IndexError) as err:
        raise ValueError(f"{path} is not a pickle of NumPy arrays ({err or type(err).__name__})"
                         + (f"; {hint}" if hint else "")) from err
