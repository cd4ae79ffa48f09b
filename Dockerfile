FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DATA_DIR=/data METRICS_LISTEN=0.0.0.0
WORKDIR /app
# the volume's mount point belongs to the non-root user, so a fresh named volume is writable
RUN useradd --create-home --uid 10001 newsbot && mkdir -p /data && chown newsbot:newsbot /data
# OCR of screenshots and scanned PDFs (Arabic and English), and pdftoppm to render a scan's pages
RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-ara tesseract-ocr-eng poppler-utils \
    && rm -rf /var/lib/apt/lists/*

# dependencies first: a code change does not reinstall them
COPY pyproject.toml README.md ./
RUN mkdir -p bot prompts && touch bot/__init__.py \
    && pip install --no-cache-dir . && pip uninstall --yes newsbot
COPY bot ./bot
COPY prompts ./prompts
RUN pip install --no-cache-dir --no-deps .

USER newsbot
VOLUME ["/data"]
# webhook mode listens on 8443 when WEBHOOK_URL is set; /healthz and /metrics on METRICS_PORT
EXPOSE 8443 9090
# healthy while updates arrive and the store can write; skipped when METRICS_PORT is not set
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request as u; p = os.environ.get('METRICS_PORT'); sys.exit(0 if not p else 0 if u.urlopen(f'http://127.0.0.1:{p}/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["newsbot"]
CMD ["run"]
