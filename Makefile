# The two commands a new user needs: `make run` and `make test`.
# Everything else is a step they depend on.

.PHONY: all deps build run run-distributed run-observability test test-cluster image clean

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j "$$(nproc)"
	@$(MAKE) --no-print-directory -C web build

# Builds, then starts the whole system on the embedded defaults.
run: build
	@scripts/run.sh

# The same system on Apache Kafka, PostgreSQL, Redis and Keycloak (all on this machine).
run-distributed: build
	@scripts/run-distributed.sh

# The same system with Prometheus scraping every process and Alertmanager
# receiving the alerts of deploy/monitoring/webtoon-rules.yaml.
run-observability: build
	@scripts/observability.sh

# Every test: unit and integration, plain and under the sanitizers.
test: deps
	@scripts/test.sh

# The Kubernetes half (make test runs it too): the image and its smoke test,
# the chart's offline checks, then a real single-node cluster on this
# machine. The first run builds the cluster toolchain (about 15 minutes).
test-cluster: deps
	@scripts/test-cluster.sh

# The one OCI image (podman), also written as build/image/webtoon-<tag>.oci.tar.
image: deps
	@scripts/image.sh build

clean:
	rm -rf build
