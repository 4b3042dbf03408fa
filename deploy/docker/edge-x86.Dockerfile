# syntax=docker/dockerfile:1.6
# polc edge node for x86-64 with an NVIDIA GPU (torch / ONNX Runtime CUDA). Build from the repo root:
#   docker build -f deploy/docker/edge-x86.Dockerfile -t polc-edge .
# Without a GPU it runs on the CPU (encoder.device: cpu).

# The torch wheels pinned in constraints.txt bring their own CUDA 13 libraries (cuBLAS,
# cuDNN ...); the CUDA runtime base adds the matching driver-facing pieces. Both stages
# share the base so that the venv's interpreter is the one the runtime has.
ARG CUDA_RUNTIME=nvidia/cuda:13.0.0-runtime-ubuntu24.04

FROM ${CUDA_RUNTIME} AS base
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*

FROM base AS build
WORKDIR /src
RUN python3 -m venv /opt/polc \
 && /opt/polc/bin/pip install --no-cache-dir "grpcio-tools>=1.60" "setuptools>=69" wheel
COPY pyproject.toml setup.py constraints.txt README.md ./
COPY proto proto
COPY shared shared
COPY cloud cloud
COPY edge edge
COPY training training
COPY bench bench
# `pip wheel .` runs setup.py, which compiles proto/polc/v1 into the wheel's polc.v1
RUN /opt/polc/bin/pip wheel --no-deps --no-build-isolation -w /wheels . \
 && /opt/polc/bin/pip install --no-cache-dir -c constraints.txt /wheels/polc-*.whl \
 && /opt/polc/bin/pip uninstall -y grpcio-tools wheel \
 && find /opt/polc -name '__pycache__' -prune -exec rm -rf {} +

FROM base AS runtime
COPY --from=build /opt/polc /opt/polc
RUN useradd --system --uid 10001 --home-dir /var/lib/polc --create-home polc \
 && mkdir -p /var/lib/polc/spool && chown -R polc /var/lib/polc
ENV PATH=/opt/polc/bin:$PATH PYTHONUNBUFFERED=1 \
    POLC_EDGE_METRICS_LISTEN=0.0.0.0:9465 POLC_EDGE_SPOOL__PATH=/var/lib/polc/spool
USER polc
WORKDIR /var/lib/polc
EXPOSE 9465
VOLUME ["/var/lib/polc/spool"]
# the edge is a gRPC client: healthy = its /metrics answers and the uplink gauge exists
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; b=urllib.request.urlopen('http://127.0.0.1:9465/metrics', timeout=4).read(); sys.exit(b'polc_edge_uplink_connected' not in b)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["polc", "edge", "run"]
CMD []
