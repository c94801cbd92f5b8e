# Shared by scripts/test: find a Python 3.12+ for the Django 6.1 tests (Django 6.1 needs 3.12; the
# project's own venv may be 3.11), make .venv-py312 with it and install the project's Django extras.
# Looks, in order, at $PYTHON312, python3.12 / python3.13 / python3.14 on PATH (a pyenv shim that is
# not active fails the check and is skipped), then pyenv's installed versions (pyenv root, or
# $PYENV_ROOT / ~/.pyenv when pyenv is not on PATH). Prints nothing and
# returns 1 when none is found.
find_python312() {
  local candidate version root
  for candidate in "${PYTHON312:-}" python3.12 python3.13 python3.14; do
    [ -n "$candidate" ] || continue
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
      command -v "$candidate"
      return 0
    fi
  done
  # pyenv's versions, also when pyenv itself is not on PATH (its default root)
  root="$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")"
  for candidate in $(ls -d "$root"/versions/3.1[2-9]* 2>/dev/null | sort -V); do
    if "$candidate/bin/python3" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
      echo "$candidate/bin/python3"
      return 0
    fi
  done
  return 1
}

make_venv312() {
  local python stamp
  if ! python="$(find_python312)"; then
    return 1
  fi
  if [ ! -x .venv-py312/bin/python ]; then
    "$python" -m venv .venv-py312
  fi
  stamp=.venv-py312/.installed-$(cksum < pyproject.toml | cut -d' ' -f1)
  if [ ! -f "$stamp" ]; then
    .venv-py312/bin/python -m pip install -q --upgrade pip
    .venv-py312/bin/python -m pip install -q -e ".[test,django,contrib-test]"
    touch "$stamp"
  fi
}
