FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DATA_DIR=/data
WORKDIR /app
RUN useradd --create-home --uid 10001 newsbot && mkdir -p /data && chown newsbot /data

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY prompts ./prompts
RUN pip install --no-cache-dir .

USER newsbot
VOLUME ["/data"]
# webhook mode listens here when WEBHOOK_URL is set; long polling needs no port
EXPOSE 8443
HEALTHCHECK NONE
ENTRYPOINT ["newsbot"]
CMD ["run"]
