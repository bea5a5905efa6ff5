#!/bin/sh
# Validate the workflows (installers, the Windows/macOS suite): check-jsonschema with its vendored GitHub Actions workflow schema
# (from packaging/requirements-dist.txt; no network), and actionlint when it is on PATH (deeper checks:
# expressions, contexts, runner labels, shell scripts through shellcheck).
#   packaging/ci/lint_workflow.sh [PYTHON]
set -eu
root_dir=$(cd "$(dirname "$0")/../.." && pwd)
py=${1:-$root_dir/.venv/bin/python}
for wf in "$root_dir"/.github/workflows/*.yml; do
    "$py" -m check_jsonschema --builtin-schema vendor.github-workflows "$wf"
done
if command -v actionlint >/dev/null; then
    actionlint "$root_dir"/.github/workflows/*.yml
else
    echo "actionlint not on PATH: schema check only"
fi
