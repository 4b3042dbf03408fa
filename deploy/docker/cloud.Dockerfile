# syntax=docker/dockerfile:1.6
# polc cloud service on a CUDA runtime base (GPU decode + analyzer). Build from the repo root:
#   docker build -f deploy/docker/cloud.Dockerfile -t polc-cloud .
# Stage 1 builds the wheel (setup.py compiles proto/polc/v1 into polc.v1 during `pip wheel`)
# and installs it with the pinned dependency set into a venv; stage 2 copies only the venv.

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
 && mkdir -p /var/lib/polc/store && chown -R polc /var/lib/polc
ENV PATH=/opt/polc/bin:$PATH PYTHONUNBUFFERED=1 \
    POLC_CLOUD_LISTEN=0.0.0.0:50051 POLC_CLOUD_METRICS_LISTEN=0.0.0.0:9464 \
    POLC_CLOUD_STORE__PATH=/var/lib/polc/store
# environment beats the config file: set the device with POLC_CLOUD_CODEC__DEVICE=cuda or
# codec.device in --config (the Helm chart does the latter)
USER polc
WORKDIR /var/lib/polc
EXPOSE 50051 9464
VOLUME ["/var/lib/polc/store"]
# grpc.health.v1 via the Python client (no extra binary in the image)
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import grpc,sys; from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g; r=g.HealthStub(grpc.insecure_channel('127.0.0.1:50051')).Check(h.HealthCheckRequest(), timeout=4); sys.exit(r.status != h.HealthCheckResponse.SERVING)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["polc", "cloud", "serve"]
CMD []
