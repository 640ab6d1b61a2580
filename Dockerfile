# The Segue image: one image for both production processes. compose.yaml runs it as
# `segue api --host 0.0.0.0 --port 8000` and as `segue worker`; any `segue …` command
# line works, because the image sets no ENTRYPOINT and `segue` is on PATH.
#
# No HEALTHCHECK here: the worker has no endpoint to probe, and a HEALTHCHECK in the image
# would apply to worker containers too. compose.yaml gives the API its health check.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# An unprivileged user with a fixed uid/gid (numeric USER below, for runAsNonRoot checks).
RUN groupadd --system --gid 10001 segue \
 && useradd --system --uid 10001 --gid segue --home-dir /var/lib/segue --create-home \
        --shell /usr/sbin/nologin segue

# Install the package from a throw-away source tree. Nothing runs from it afterwards:
# `segue` is the console script pip puts on PATH (/usr/local/bin).
WORKDIR /build/segue
COPY pyproject.toml README.md ./
COPY requirements/lock.txt ./requirements/lock.txt
COPY engine ./engine
COPY api ./api
RUN pip install --no-cache-dir -c requirements/lock.txt . \
 && rm -rf /build \
 && segue --help > /dev/null \
 && segue worker --help > /dev/null \
 && segue api --help > /dev/null

# The workflow catalog directory; compose.yaml bind-mounts ./workflows over it.
RUN mkdir -p /srv/segue/workflows

WORKDIR /var/lib/segue
ENV SEGUE_DATA_DIR=/var/lib/segue
USER 10001:10001

EXPOSE 8000
CMD ["segue", "--help"]
