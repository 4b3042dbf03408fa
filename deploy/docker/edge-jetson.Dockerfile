# syntax=docker/dockerfile:1.6
# polc edge node for NVIDIA Jetson (aarch64, JetPack 6 / L4T r36). Build on the Jetson or with
# buildx --platform linux/arm64 from the repo root:
#   docker build -f deploy/docker/edge-jetson.Dockerfile -t polc-edge-jetson .
# The L4T PyTorch base brings the JetPack CUDA build of torch; the ONNX Runtime / TensorRT
# backend is used through the system's TensorRT (encoder.backend: onnx, provider: tensorrt).

ARG L4T_BASE=nvcr.io/nvidia/l4t-pytorch:r35.2.1-pth2.0-py3

FROM ${L4T_BASE} AS build
WORKDIR /src
RUN python3 -m pip install --no-cache-dir "grpcio-tools>=1.60" "setuptools>=69" wheel
COPY pyproject.toml setup.py constraints.txt README.md ./
COPY proto proto
COPY shared shared
COPY cloud cloud
COPY edge edge
COPY training training
COPY bench bench
# --system-site-packages: keep the base image's JetPack torch / torchvision instead of the
# x86 wheels pinned in constraints.txt (those have no aarch64 CUDA build)
RUN python3 -m pip wheel --no-deps --no-build-isolation -w /wheels . \
 && python3 -m venv --system-site-packages /opt/polc \
 && /opt/polc/bin/pip install --no-cache-dir --no-deps /wheels/polc-*.whl \
 && /opt/polc/bin/pip install --no-cache-dir compressai constriction "pydantic>=2.6" \
      "pydantic-settings>=2.2" pyyaml "grpcio>=1.60" "protobuf>=4.25" "prometheus-client>=0.20" \
      "numpy<2" pillow tqdm onnx \
 && find /opt/polc -name '__pycache__' -prune -exec rm -rf {} +

FROM ${L4T_BASE} AS runtime
COPY --from=build /opt/polc /opt/polc
RUN useradd --system --uid 10001 --home-dir /var/lib/polc --create-home polc \
 && usermod -aG video polc \
 && mkdir -p /var/lib/polc/spool && chown -R polc /var/lib/polc
ENV PATH=/opt/polc/bin:$PATH PYTHONUNBUFFERED=1 \
    POLC_EDGE_METRICS_LISTEN=0.0.0.0:9465 POLC_EDGE_SPOOL__PATH=/var/lib/polc/spool \
    POLC_EDGE_ENCODER__DEVICE=cuda
USER polc
WORKDIR /var/lib/polc
EXPOSE 9465
VOLUME ["/var/lib/polc/spool"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=180s --retries=3 \
  CMD ["python3", "-c", "import urllib.request,sys; b=urllib.request.urlopen('http://127.0.0.1:9465/metrics', timeout=4).read(); sys.exit(b'polc_edge_uplink_connected' not in b)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["polc", "edge", "run"]
CMD []
