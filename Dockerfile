# syntax=docker/dockerfile:1
# Two images from one file:
#   make images   (docker build --target actor ...; docker build --target operator ...)
#   actor:    the trading runtime with CPU torch and the built web view; non-root (uid 10001), read-only root friendly
#   operator: the kopf operator; no torch, no actor package (it talks to actors over HTTP)

# --- the web view's static assets (actor/web: npm ci && npm run build -> actor/web/dist) ---
FROM node:20-bookworm-slim AS web
WORKDIR /web
COPY actor/web/package.json actor/web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY actor/web/ ./
RUN npm run build

# --- the actor's wheel: its C part (kalshi_actor/_features.c) needs a compiler, the runtime image does not ---
FROM python:3.11-bookworm AS actor-wheel
WORKDIR /src
COPY actor/pyproject.toml actor/setup.py actor/
COPY actor/src actor/src
RUN pip wheel --no-deps --wheel-dir /wheels ./actor

# --- the actor ---
FROM python:3.11-slim-bookworm AS actor
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    KALSHI_ACTOR_WEB_DIR=/app/web KALSHI_MODEL_REGISTRY=/app/models HOME=/tmp
RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin actor
WORKDIR /app
COPY --from=actor-wheel /wheels /wheels
# CPU torch (the pin in actor/pyproject.toml) from PyTorch's CPU index: no CUDA libraries in the image
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu /wheels/*.whl && rm -rf /wheels
COPY --from=web /web/dist /app/web
RUN mkdir -p /app/models && chown 10001:10001 /app/models
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["kalshi-actor"]
CMD ["run", "--host", "0.0.0.0", "--port", "8000"]

# --- the operator ---
FROM python:3.11-slim-bookworm AS operator
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin operator
WORKDIR /app
COPY operator/pyproject.toml operator/pyproject.toml
COPY operator/src operator/src
RUN pip install ./operator && rm -rf operator && python -c "import importlib.util as u; assert not u.find_spec('torch')"
USER 10001:10001
EXPOSE 8080 9090
ENTRYPOINT ["kalshi-operator"]
CMD ["--all-namespaces", "--liveness=http://0.0.0.0:8080/healthz"]
