# auth-backend image: `make docker-build`, or `docker compose up` (see docs/operations.md).
# The builder installs the locked dependencies and the service's wheel into a virtualenv;
# the runtime stage copies only that virtualenv. tests/deploy/test_container.py replays these
# steps without Docker (the replay is tests/deploy/dockerfile.py), so keep every location in
# the ARGs below.

FROM python:3.11-slim AS builder

ARG VENV=/opt/venv
ARG BUILD_VENV=/opt/build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src

# Dependencies first: this layer is rebuilt only when the lock files change. Every package
# is pinned with its hashes; --no-deps because the lock already lists every transitive one.
COPY requirements.lock requirements-build.lock ./
RUN python -m venv "$VENV" \
    && "$VENV/bin/pip" install --require-hashes --no-deps -r requirements.lock \
    && python -m venv "$BUILD_VENV" \
    && "$BUILD_VENV/bin/pip" install --require-hashes --no-deps -r requirements-build.lock

# The wheel carries the contract (openapi/openapi.yaml, force-included by pyproject.toml).
COPY pyproject.toml README.md ./
COPY openapi/openapi.yaml openapi/openapi.yaml
COPY src/ src/
RUN "$BUILD_VENV/bin/pip" wheel --no-deps --no-build-isolation --wheel-dir dist . \
    && "$VENV/bin/pip" install --no-deps --no-index dist/auth_backend-*.whl \
    && "$VENV/bin/pip" check


FROM python:3.11-slim

ARG VENV=/opt/venv
# A fixed numeric id, so that orchestrators can check "runs as non-root" from the image.
ARG UID=10001
RUN groupadd --system --gid "$UID" auth \
    && useradd --system --uid "$UID" --gid auth --no-log-init --no-create-home \
        --home-dir /app --shell /usr/sbin/nologin auth \
    && mkdir -p /app/data \
    && chown auth:auth /app/data

COPY --from=builder $VENV $VENV

# The SQLite default (sqlite:///./data/auth.db) resolves to /app/data, the volume.
# /metrics and the docs pages answer loopback and private networks only (the scraper and the
# operators on the platform network); .env may widen it, e.g. to 0.0.0.0/0,::/0.
WORKDIR /app
ENV PATH="$VENV/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8080 \
    LOG_FORMAT=json \
    OPERATIONS_ALLOWED_NETWORKS="127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"
# Mount a volume on /app/data to keep the users and keys (compose does).
USER $UID:$UID
EXPOSE 8080

# Liveness with nothing but the standard library; PORT may be changed by the environment.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8080') + '/health', timeout=2)"]

# uvicorn handles SIGTERM: in-flight requests get SHUTDOWN_TIMEOUT seconds to finish.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "auth_backend"]
