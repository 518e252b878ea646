# Benchmarks (bench/README.md). They are built with the test programs (so that they
# keep compiling) and run only by `make bench`, each bounded in time; `make bench`
# fails when a benchmark misses a target or fails to run.
BENCH_RUN =
BENCH_DEPS =
if ENABLE_SERVER
check_PROGRAMS += bench/bench-relay bench/bench-crowd
bench_bench_relay_SOURCES = bench/bench-relay.c
bench_bench_relay_CFLAGS = $(SERVER_CFLAGS)
bench_bench_relay_LDADD = $(SERVER_LIBS)
bench_bench_crowd_SOURCES = bench/bench-crowd.c tests/http-client.c tests/http-client.h
bench_bench_crowd_CFLAGS = $(AM_CFLAGS) -I$(top_srcdir)/tests $(SODIUM_CFLAGS) $(JANSSON_CFLAGS)
bench_bench_crowd_LDADD = src/lib/libsalon.a $(JANSSON_LIBS) $(SODIUM_LIBS)
BENCH_RUN += bench/bench-relay bench/bench-crowd
BENCH_DEPS += bench/bench-relay bench/bench-crowd src/server/salond
endif
if ENABLE_CLIENT
BENCH_RUN += bench/bench-rekey
BENCH_DEPS += bench/bench-rekey
endif
# Client cost beside baresip, and added latency (bench/bench-client.sh drives salond,
# salon bots, baresip and bench/bench-latency).
if ENABLE_SERVER
if ENABLE_CLIENT
check_PROGRAMS += bench/bench-latency
bench_bench_latency_SOURCES = bench/bench-latency.c
bench_bench_latency_LDADD = -lm
BENCH_RUN += bench/bench-client.sh
BENCH_DEPS += bench/bench-latency src/client/salon tests/e2e-audio-tool
endif
endif
EXTRA_DIST += bench/README.md bench/bench-client.sh

# Seconds each benchmark may run before it is stopped (and counted as failed):
# together at most 16.7 minutes.
BENCH_TIMEOUT_relay = 240
BENCH_TIMEOUT_crowd = 330
BENCH_TIMEOUT_rekey = 30
BENCH_TIMEOUT_client = 400

bench: $(BENCH_DEPS)
	@failed=""; \
	for b in $(BENCH_RUN); do \
		case $$b in \
		*relay) limit=$(BENCH_TIMEOUT_relay) ;; \
		*crowd) limit=$(BENCH_TIMEOUT_crowd) ;; \
		*client.sh) limit=$(BENCH_TIMEOUT_client) ;; \
		*) limit=$(BENCH_TIMEOUT_rekey) ;; \
		esac; \
		case $$b in \
		*.sh) prog="$(SHELL) $(abs_top_srcdir)/$$b" ;; \
		*) prog=./$$b ;; \
		esac; \
		echo "== $$b (at most $$limit s)"; \
		SALOND=$(abs_top_builddir)/src/server/salond \
		top_builddir=$(abs_top_builddir) top_srcdir=$(abs_top_srcdir) \
			timeout $$limit $$prog; status=$$?; \
		if test $$status -ne 0; then \
			echo "== $$b: FAIL (exit status $$status)"; failed="$$failed $$b"; \
		else \
			echo "== $$b: PASS"; \
		fi; \
	done; \
	if test -n "$$failed"; then echo "make bench: FAIL:$$failed"; exit 1; fi; \
	echo "make bench: PASS"
.PHONY: bench
