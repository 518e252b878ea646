# Tests: C unit tests (cmocka) and shell integration tests against real binaries.
TEST_EXTENSIONS = .sh
SH_LOG_COMPILER = $(SHELL)
AM_TESTS_ENVIRONMENT = \
	SALON_VECTORS='$(SALON_VECTORS)'; export SALON_VECTORS; \
	top_builddir='$(abs_top_builddir)'; export top_builddir; \
	top_srcdir='$(abs_top_srcdir)'; export top_srcdir;

TEST_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(SODIUM_CFLAGS) $(JANSSON_CFLAGS)
TEST_LIBS = src/lib/libsalon.a $(CMOCKA_LIBS) $(SODIUM_LIBS) $(JANSSON_LIBS)
EXTRA_DIST += tests/lib.sh

# Unit tests, one program per module of src/lib.
check_PROGRAMS += tests/test-encoding
tests_test_encoding_SOURCES = tests/test-encoding.c
tests_test_encoding_CFLAGS = $(TEST_CFLAGS)
tests_test_encoding_LDADD = $(TEST_LIBS)
TESTS += tests/test-encoding
