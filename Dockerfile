# One image per purpose, from one file:
#   docker build .                    -> production (the default, last stage): vbq's roles only,
#                                        `docker run IMAGE worker|beat|relay|subscribe|api ...`
#   docker build --target local .     -> production + the [emulators] and [demo] extras, for
#                                        docker-compose.yml's local Google stand-ins and `vbq demo`
# Runtime dependencies are pinned in requirements.lock (regenerate: see ops/README.md), the
# extras' own in requirements-extras.lock; vbq installs without re-resolving them.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VBQ_LOG_FORMAT=json

WORKDIR /app

COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock

# vbq/producers, vbq/workers and vbq/subscribers are symlinks to the top-level folders.
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY vbq ./vbq
COPY producers ./producers
COPY workers ./workers
COPY subscribers ./subscribers
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin vbq \
    && mkdir -p /data /metrics && chown vbq:vbq /data /metrics
# Celery prefork children write their metrics here (vbq worker makes a fresh subdirectory).
ENV PROMETHEUS_MULTIPROC_DIR=/metrics
EXPOSE 8080 9100
ENTRYPOINT ["vbq"]
CMD ["--help"]

FROM base AS local
COPY requirements-extras.lock ./
COPY emulators ./emulators
COPY demo ./demo
RUN pip install --no-deps -r requirements-extras.lock ./emulators ./demo
USER vbq

FROM base AS production
USER vbq
