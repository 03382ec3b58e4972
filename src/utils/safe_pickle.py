"""Reading pickles of NumPy arrays from user files without running code.

``pickle.load`` calls whatever a file names, so a crafted file runs code as soon as it is read.
:func:`load_array_pickle` builds only NumPy arrays, NumPy scalars and plain containers (dict,
list, tuple, OrderedDict) and refuses any other object, naming the file.
"""
import pickle

__all__ = ["ArrayOnlyUnpickler", "load_array_pickle", "refuse_object_arrays"]

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


def refuse_object_arrays(value, path: str, where: str = "") -> None:
    """ValueError naming ``path`` and the entry when ``value`` (arrays in plain containers) holds an array
    of Python objects: such an array is no weight or feature, and it breaks every later conversion."""
    if isinstance(value, dict):
        for key, item in value.items():
            refuse_object_arrays(item, path, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            refuse_object_arrays(item, path, f"{where}[{index}]")
    elif getattr(value, "dtype", None) is not None and value.dtype.hasobject:
        raise ValueError(f"{path}: entry {where or '(top level)'} is an array of Python objects, not numbers; "
                         f"only numeric arrays are read")


def load_array_pickle(path: str, hint: str = ""):
    """The object pickled in ``path`` (numeric arrays and containers only); ValueError naming the file when
    it is missing, truncated, not a pickle, or holds any other object or an object array (``hint`` says
    what the file should be)."""
    try:
        with open(path, "rb") as handle:
            value = ArrayOnlyUnpickler(handle, encoding="latin1").load()
    except OSError as err:
        raise ValueError(f"cannot read {path}: {err.strerror or err}") from err
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError, IndexError) as err:
        raise ValueError(f"{path} is not a pickle of NumPy arrays ({err or type(err).__name__})"
                         + (f"; {hint}" if hint else "")) from err
    refuse_object_arrays(value, path)
    return value
