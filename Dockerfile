# Statuspass service image: slim, non-root, with a health check.
# The web apps (web/) are built with Debian's node and npm from the committed lockfile.
FROM python:3.11-slim AS web
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY web ./web
RUN npm --prefix web ci --no-audit --no-fund && npm --prefix web run build

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY --from=web /src/app/web/static ./app/web/static
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 statuspass
COPY --from=build /install /usr/local
WORKDIR /srv/statuspass
RUN mkdir -p keys var && chown -R statuspass:statuspass /srv/statuspass && chmod 700 keys var
USER statuspass
ENV STATUSPASS_KEYS_DIR=/srv/statuspass/keys \
    STATUSPASS_STORE_URL=sqlite:////srv/statuspass/var/statuspass.sqlite3 \
    PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status != 200)"
# keys/ and var/ are volumes in production; STATUSPASS_ENV=production refuses to start
# without keys mounted there.
# STATUSPASS_ISSUER is the service's public https URL (every token's `iss` and status-list
# URI name it): set it, e.g. `-e STATUSPASS_ISSUER=https://statuspass.example.org`.
# Without it a development container's issuer is http://127.0.0.1:8000, the address served;
# STATUSPASS_ENV=production refuses to start without an https one.
VOLUME ["/srv/statuspass/keys", "/srv/statuspass/var"]
CMD ["statuspass", "serve", "--host", "0.0.0.0", "--port", "8000"]
