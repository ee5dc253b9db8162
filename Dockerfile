# The EvoLink video bot as a container: docker compose up (see compose.yaml and the README).
# The base image can be swapped at build time (--build-arg PYTHON_IMAGE=...), e.g. for a mirror.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml constraints.txt README.md LICENSE ./
COPY bot ./bot
COPY cogs ./cogs
# the same pinned releases as CI (constraints.txt), without the test tools
RUN python -m pip install -c constraints.txt . \
    && useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin bot \
    && mkdir -p /data \
    && chown bot:bot /data \
    && chmod 700 /data

# The database lives on a volume; health and metrics answer inside the container only unless
# METRICS_HOST is set to 0.0.0.0 and the port published.
ENV DATABASE_PATH=/data/bot.db \
    METRICS_HOST=127.0.0.1 \
    METRICS_PORT=8789
VOLUME ["/data"]
USER bot
WORKDIR /data

HEALTHCHECK --interval=30s --timeout=10s --start-period=90s --retries=3 \
    CMD ["python", "-m", "bot.healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m", "bot"]
