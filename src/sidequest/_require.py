"""``-r``: import the modules that define jobs, under the names the application imports them by.

A job's default name is ``module.qualname``, so the worker must import a jobs file under the same
module name as the code that enqueues: ``-r shop/jobs.py`` must become ``shop.jobs``, not ``jobs``,
or every ``shop.jobs.*`` job would be unknown. The name is derived from ``sys.path`` the way the
application's own imports resolve it; when no name can be derived, the file is refused with the
reason instead of being loaded under a guess.

An import that fails is reported in one line that points at the user's code (file, line, error),
because a traceback through the command-line machinery hides the one frame that matters.
"""

from __future__ import annotations

import importlib
import keyword
import os
import sys
import traceback
from pathlib import Path

from sidequest.errors import ConfigError


def load_modules(specs: tuple[str, ...] | list[str]) -> None:
    """Import each -r spec: a dotted module name or a path to a .py file. Errors are one-line ConfigErrors."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    for spec in specs:
        if spec.endswith(".py") or os.path.isfile(spec):
            _load_file(spec)
        else:
            _import(spec, spec)


def module_name_for(path: Path) -> str:
    """The dotted name the file has on sys.path: relative to the longest sys.path entry holding it.

    A file on no sys.path entry is named from the packages around it (directories with an
    __init__.py), and their parent directory is put first on sys.path, as pytest does (and as
    ``python file.py`` does with the file's own directory).
    """
    candidates = []
    for entry in sys.path:
        root = Path(os.path.realpath(entry or os.getcwd()))
        if root in path.parents:
            candidates.append(root)
    for root in sorted(candidates, key=lambda r: len(str(r)), reverse=True):
        name = _dotted(path, root)
        if name is not None:
            return name
    top = path.parent
    while (top / "__init__.py").is_file():
        top = top.parent
    name = _dotted(path, top)
    if name is None:
        parts = path.relative_to(top).with_suffix("").parts
        bad = next(part for part in parts if not _is_identifier(part))
        raise ConfigError(
            f"cannot import {path} as a module: {bad!r} is not a valid Python name, so no import "
            "statement can reach this file; rename it, or pass the module name your application "
            "imports (-r package.module)"
        )
    sys.path.insert(0, str(top))
    return name


def _dotted(path: Path, root: Path) -> str | None:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    if not parts or not all(_is_identifier(part) for part in parts):
        return None
    return ".".join(parts)


def _is_identifier(part: str) -> bool:
    return part.isidentifier() and not keyword.iskeyword(part)


def _load_file(spec: str) -> None:
    if not os.path.isfile(spec):
        raise ConfigError(f"-r {spec}: no such file (the working directory is {os.getcwd()})")
    path = Path(os.path.realpath(spec))
    try:
        name = module_name_for(path)
    except ConfigError as exc:
        raise ConfigError(f"-r {spec}: {exc}") from None
    module = _import(name, spec, shadowed=True)
    loaded = getattr(module, "__file__", None)
    if loaded is None or Path(os.path.realpath(loaded)) != path:
        raise ConfigError(_shadowed(spec, name, f"loads {loaded or 'a module without a file'} instead"))


def _shadowed(spec: str, name: str, what: str) -> str:
    return (
        f"-r {spec}: this file's module name is {name}, but importing {name} {what} (another "
        "sys.path entry holds a package of that name); rename one of them, or pass the module name "
        "your application imports"
    )


def _import(name: str, spec: str, *, shadowed: bool = False) -> object:
    """Import name for -r spec; shadowed: name was derived from a file, so "not found" means another package won."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if shadowed and (name == missing or name.startswith(missing + ".")):
            raise ConfigError(_shadowed(spec, name, f"finds no module {missing}")) from None
        if name == missing or name.startswith(missing + "."):
            raise ConfigError(
                f"-r {spec}: cannot import module {missing!r} (is it on PYTHONPATH? the working "
                f"directory is {os.getcwd()})"
            ) from None
        raise ConfigError(f"-r {spec}: {_failure(exc)}") from None
    except Exception as exc:
        raise ConfigError(f"-r {spec}: {_failure(exc)}") from None


def _failure(exc: BaseException) -> str:
    """'importing it failed at shop/jobs.py:3: ModuleNotFoundError: No module named 'x'' for an import error."""
    where = None
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f"{_shown(exc.filename)}:{exc.lineno}"
        detail = exc.msg
    else:
        frame = _user_frame(exc)
        if frame is not None:
            where = f"{_shown(frame.filename)}:{frame.lineno}"
        detail = str(exc)
    detail = " ".join(str(detail).split())  # one line, whatever the exception's message holds
    text = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return f"importing it failed at {where}: {text}" if where else f"importing it failed: {text}"


def _library_dirs() -> tuple[str, ...]:
    """The stdlib, installed packages and sidequest itself (a job option error is raised in sidequest)."""
    import sysconfig  # only when an import failed: it stays in a worker's memory once loaded

    paths = sysconfig.get_paths()
    dirs = [paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths]
    dirs.append(os.path.dirname(__file__))
    return tuple(os.path.realpath(path) + os.sep for path in dirs)


def _user_frame(exc: BaseException) -> traceback.FrameSummary | None:
    """The deepest frame in the user's own code: not the import machinery, the stdlib or installed packages."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<")]
    libraries = _library_dirs()
    own = [f for f in frames if not os.path.realpath(f.filename).startswith(libraries)]
    chosen = own or frames
    return chosen[-1] if chosen else None


def _shown(filename: str) -> str:
    """A path relative to the working directory when it is below it, else absolute."""
    absolute = os.path.realpath(filename)
    cwd = os.path.realpath(os.getcwd())
    return os.path.relpath(absolute, cwd) if absolute.startswith(cwd + os.sep) else absolute
