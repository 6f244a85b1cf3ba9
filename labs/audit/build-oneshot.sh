#!/usr/bin/env bash
# Build the one-shot audit image offline: lab:tools (python3) + hardlab and its runtime deps from PyPI.
# Usage: bash labs/audit/build-oneshot.sh [TAG]   (default hardlab/audit:latest)
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=${1:-hardlab/audit:latest}
python=${PYTHON:-python3}
base=$($python -c 'from hardlab import images, engine; print(images.ensure(engine.connect(), "lab:tools"))')
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
$python -m pip install -q --target "$ctx/site" --no-compile . >/dev/null
cp -r scenarios labs "$ctx/"
cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM $base
COPY site /opt/hardlab/site
COPY scenarios /opt/hardlab/scenarios
COPY labs /opt/hardlab/labs
ENV PYTHONPATH=/opt/hardlab/site HARDLAB_LABS=/opt/hardlab/labs
WORKDIR /opt/hardlab
LABEL hardlab=1 hardlab.audit.self=1
USER 0
ENTRYPOINT ["python3", "-m", "hardlab.cli", "audit", "--pack", "/opt/hardlab/scenarios/host-audit"]
DOCKERFILE
docker build -q -t "$tag" "$ctx"
echo "built $tag from $base"
