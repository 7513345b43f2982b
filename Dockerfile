# syntax=docker/dockerfile:1
# The actor image (CPU torch, non-root). The operator image and the web view's build stage arrive with later issues.
FROM python:3.11-slim AS actor
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN useradd --uid 10001 --create-home actor
WORKDIR /app
COPY actor/pyproject.toml actor/pyproject.toml
COPY actor/src actor/src
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu ./actor
USER 10001
EXPOSE 8000
ENTRYPOINT ["kalshi-actor"]
CMD ["sim", "--host", "0.0.0.0", "--port", "8000"]
