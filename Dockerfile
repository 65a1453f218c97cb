# checkout-bot: one image for a lone SQLite instance (a /data volume) or for several
# instances on PostgreSQL (compose.yaml). Configuration: deploy/config.toml, secrets from the
# environment (.env.example). Build: docker build -t checkout-bot .
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md deploy/constraints.txt ./
COPY bot bot
COPY payments payments
COPY storage storage
RUN pip wheel --no-cache-dir --wheel-dir /wheels --constraint constraints.txt ".[postgres]"

FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN useradd --system --uid 10001 --user-group --home-dir /app checkout \
    && mkdir -p /data /app && chown checkout:checkout /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels "checkout-bot[postgres]" \
    && rm -rf /wheels
WORKDIR /app
COPY deploy/config.toml deploy/catalog.toml /app/
USER checkout
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["checkout-bot", "--config", "/app/config.toml"]
CMD ["run"]
