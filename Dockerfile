# One image for every vbq role: `docker run IMAGE worker|beat|relay|subscribe|api|emulator ...`.
# Installs pinned runtime dependencies from requirements.lock (regenerate: see ops/README.md),
# then vbq itself without re-resolving them.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VBQ_LOG_FORMAT=json

WORKDIR /app

COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock

COPY pyproject.toml README.md ./
COPY vbq ./vbq
COPY producers ./producers
COPY workers ./workers
COPY subscribers ./subscribers
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin vbq \
    && mkdir -p /data /metrics && chown vbq:vbq /data /metrics

USER vbq
# Celery prefork children write their metrics here (vbq worker makes a fresh subdirectory).
ENV PROMETHEUS_MULTIPROC_DIR=/metrics
EXPOSE 8080 9100
ENTRYPOINT ["vbq"]
CMD ["--help"]
